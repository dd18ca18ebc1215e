import { EXIT, tryParseCommandLine, type CliSpec, type FlagSpec } from './command-line';

const spec = {
  name: 'npm run demo --',
  summary: 'A demonstration tool.',
  flags: {
    images: { type: 'string', value: 'DIR', description: 'folder of images', required: true },
    json: { type: 'string', value: 'OUT', description: 'write the figures as JSON' },
    count: { type: 'string', description: 'how many', default: '100', number: { integer: true, min: 1 } },
    rate: { type: 'string', description: 'per second', number: { min: 0 } },
    mode: { type: 'string', description: 'how', default: 'classic', choices: ['classic', 'batch'] },
    'no-progress': { type: 'boolean', description: 'no progress bar' },
    verbose: { type: 'boolean', description: 'say more' },
  },
  epilog: 'Exit 1 when an image failed.',
} as const satisfies CliSpec<Record<string, FlagSpec>>;

const parse = (...argv: string[]) => tryParseCommandLine(spec, argv);

describe('the shared command line', () => {
  it('gives the values keyed by flag name, defaults filled in, booleans false unless given', () => {
    expect(parse('--images', 'in', '--rate=2.5', '--no-progress')).toEqual({
      kind: 'run',
      values: { images: 'in', json: undefined, count: '100', rate: '2.5', mode: 'classic', 'no-progress': true, verbose: false },
    });
    expect(parse('--images', 'in')).toMatchObject({ values: { 'no-progress': false } });
  });

  it('--help lists every flag, its default and the exit codes, on stdout, and exits 0', () => {
    const out = parse('--help');
    expect(out).toMatchObject({ kind: 'exit', code: EXIT.done, stderr: '' });
    const help = out.kind === 'exit' ? out.stdout : '';
    expect(help).toContain('Usage: npm run demo -- [options]');
    for (const flag of ['--images <DIR>', '--json <OUT>', '--count <N>', '--mode <VALUE>', '--no-progress', '--verbose']) expect(help).toContain(flag);
    expect(help).toContain('default: "100"');
    expect(help).toContain('Exit 1 when an image failed.');
    expect(help).toContain('Exit codes: 0 done, 1 the run\'s goal failed, 2 usage or crash.');
  });

  it.each([
    [['--images', 'in', '--bogus'], "npm run demo --: unknown option '--bogus' (see --help)"],
    [['--images', 'in', '--jsn', 'x'], "npm run demo --: unknown option '--jsn' (Did you mean --json?) (see --help)"],
    [['--images', 'in', '--count', 'ten'], 'npm run demo --: --count must be an integer >= 1 (got ten) (see --help)'],
    [['--images', 'in', '--count', '1.5'], 'npm run demo --: --count must be an integer >= 1 (got 1.5) (see --help)'],
    [['--images', 'in', '--rate', '-1'], 'npm run demo --: --rate must be a number >= 0 (got -1) (see --help)'],
    [['--images', 'in', '--mode', 'fast'], "npm run demo --: option '--mode <VALUE>' argument 'fast' is invalid. Allowed choices are classic, batch. (see --help)"],
    [['--json', 'x'], 'npm run demo --: --images is required (see --help)'],
    [['--json', 'x', '--bogus'], "npm run demo --: unknown option '--bogus' (see --help)"],
    [['--images', 'in', 'stray'], 'npm run demo --: too many arguments. Expected 0 arguments but got 1. (see --help)'],
  ])('%j is refused with one line on stderr and exit 2', (argv, line) => {
    expect(parse(...argv)).toEqual({ kind: 'exit', code: EXIT.usage, stdout: '', stderr: `${line}\n` });
  });

  it('parses each call afresh (no value leaks from an earlier parse)', () => {
    parse('--images', 'a', '--verbose', '--json', 'out.json');
    expect(parse('--images', 'b')).toMatchObject({ values: { images: 'b', verbose: false, json: undefined } });
  });
});
