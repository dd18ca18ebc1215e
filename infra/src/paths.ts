import { resolve } from 'node:path';

/** Where `npm run synth` writes the cloud assembly, and `nx deploy infra` reads it. */
export const DEFAULT_OUTDIR = resolve(__dirname, '../../dist/infra/cdk.out');
