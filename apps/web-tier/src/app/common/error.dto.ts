import { ApiProperty } from '@nestjs/swagger';

/** The one error shape of this API. */
export class ErrorDto {
  @ApiProperty({ example: 400 }) statusCode!: number;
  @ApiProperty({ example: 'Bad Request' }) error!: string;
  @ApiProperty({ example: 'no files: send one or more images in the multipart field "images"' }) message!: string;
}
