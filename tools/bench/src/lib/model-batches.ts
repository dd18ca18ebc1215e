/** `inputs` (one image's model input each) packed `size` to a batch, as the engine takes them: the last batch may be smaller. */
export function modelBatches(inputs: Float32Array[], size: number): { data: Float32Array; n: number }[] {
  if (inputs.length === 0) return [];
  const per = inputs[0].length;
  const batches: { data: Float32Array; n: number }[] = [];
  for (let i = 0; i < inputs.length; i += size) {
    const group = inputs.slice(i, i + size);
    const data = new Float32Array(per * group.length);
    group.forEach((x, j) => data.set(x, j * per));
    batches.push({ data, n: group.length });
  }
  return batches;
}
