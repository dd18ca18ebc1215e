/**
 * The test kit's files and paths alone: fixture images and the test model, the workspace root,
 * the deployment's env files. For specs that need nothing else: the `@tools/testing` barrel also
 * loads the embedded S3/SQS, the AWS SDK and the browser helpers, seconds of CPU per spec file.
 */
export * from './fixtures';
export { SCENE_COUNT, SMALL_IMAGE_COUNT } from './fixture-images';
export { WORKSPACE_ROOT } from './apps';
export * from './env-files';
