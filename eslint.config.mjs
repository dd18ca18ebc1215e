import nx from '@nx/eslint-plugin';

/**
 * Apps and libs ship; tools/ (test helpers and doubles, the local stack, benchmarks) does
 * not. So apps and libs import tools/ only from spec files and the test kits in a
 * project's test/ folder. `prefix` locates the projects: '' from a project's own config
 * (where Nx runs its lint), '{apps,libs}/*\/' from this root config.
 */
const toolsOnlyFromTests = (prefix) => ({
  files: [`${prefix}**/*.ts`],
  ignores: [`${prefix}**/*.spec.ts`, `${prefix}**/*.test.ts`, `${prefix}test/**`, `${prefix}jest.config.*`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            regex: '^(@tools/|(\\.\\./)+tools/)',
            message: 'apps and libs may import tools/ only from spec files and test/ kits: tools/ is not part of any artifact',
          },
        ],
      },
    ],
  },
});

/** The rules an app's or lib's own eslint.config.mjs adds to this file's. */
export const appOrLibRules = [toolsOnlyFromTests('')];

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  ...nx.configs['flat/javascript'],
  {
    ignores: ['**/dist', '**/out-tsc', '**/cdk.out', 'test-artifacts', '.local-aws', '.local-run'],
  },
  toolsOnlyFromTests('{apps,libs}/*/'),
  {
    files: ['**/*.ts', '**/*.tsx', '**/*.js', '**/*.jsx'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: true,
          // Shared build configuration: the apps' webpack configs share one (tools/webpack).
          allow: ['^.*/eslint(\\.base)?\\.config\\.[cm]?[jt]s$', '^.*/tools/webpack/node-app(\\.js)?$'],
          // Apps use libs; libs never use apps; contracts and config use nothing of
          // ours; tools (local stack, test helpers, benchmarks) may use libs, and
          // tests of libs may use tools.
          depConstraints: [
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib', 'type:tool'] },
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib', 'type:tool'] },
            { sourceTag: 'type:tool', onlyDependOnLibsWithTags: ['type:lib', 'type:tool'] },
            { sourceTag: 'scope:contracts', onlyDependOnLibsWithTags: [] },
            { sourceTag: 'scope:config', onlyDependOnLibsWithTags: [] },
          ],
        },
      ],
    },
  },
  {
    files: [
      '**/*.ts',
      '**/*.tsx',
      '**/*.cts',
      '**/*.mts',
      '**/*.js',
      '**/*.jsx',
      '**/*.cjs',
      '**/*.mjs',
    ],
    // Override or add rules here
    rules: {},
  },
];
