/**
 * `npm run docs:config`: writes docs/configuration.md from libs/config.
 * `--check`: writes nothing; exit 1 when the committed page differs from the code.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { EXIT, parseCommandLine, runMain } from '@app/command-line';
import { CONFIGURATION_PAGE, renderConfigurationPage } from './config-page';

const values = parseCommandLine({
  name: 'npm run docs:config --',
  summary: 'Writes docs/configuration.md from the libs/config definitions (names, defaults, limits, descriptions).',
  flags: {
    check: { type: 'boolean', description: 'write nothing; exit 1 when the committed page differs from the code' },
  },
  epilog: 'Exit 1 (with --check): the page is out of date; run npm run docs:config.',
});

runMain('docs:config', async () => {
  const page = renderConfigurationPage();
  const path = relative(process.cwd(), CONFIGURATION_PAGE);
  const current = existsSync(CONFIGURATION_PAGE) ? readFileSync(CONFIGURATION_PAGE, 'utf8') : '';
  if (values.check) {
    console.log(current === page ? `${path} is up to date` : `${path} differs from libs/config: run npm run docs:config`);
    return current === page ? EXIT.done : EXIT.goalFailed;
  }
  writeFileSync(CONFIGURATION_PAGE, page);
  console.log(current === page ? `${path} was already up to date` : `wrote ${path}`);
  return EXIT.done;
});
