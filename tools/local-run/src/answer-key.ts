import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MODEL_DIR } from '@tools/testing';

/**
 * What the model says for each file, computed in this process by the same
 * Classifier the workers run, as the load generator's answer key
 * (`{ "<name without extension>": { "label": ... } }`). A pipeline run must
 * then agree on every image: whatever the queues, retries and workers did,
 * each image's one answer is the model's answer for its bytes.
 */
export async function modelAnswerKey(dir: string, files: string[], modelDir = MODEL_DIR): Promise<Record<string, { label: string }>> {
  const { Classifier } = await import('@app/classifier');
  const classifier = await Classifier.create({ modelDir, thread: false });
  try {
    const key: Record<string, { label: string }> = {};
    for (const f of files) key[f.replace(/\.[^./]+$/, '')] = { label: (await classifier.classify(readFileSync(join(dir, f)))).label };
    return key;
  } finally {
    await classifier.close();
  }
}

/** modelAnswerKey written to outFile, for the load generator's expectedFile. */
export async function writeModelAnswerKey(dir: string, files: string[], outFile: string, modelDir = MODEL_DIR): Promise<string> {
  writeFileSync(outFile, JSON.stringify(await modelAnswerKey(dir, files, modelDir), null, 2));
  return outFile;
}
