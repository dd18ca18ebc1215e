import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  APPS,
  artifactProblems,
  bareRequires,
  CONTROL_APPS,
  packageNameOf,
  readArtifact,
  TFJS_NODE,
  WORKER_APP,
  WORKSPACE_ROOT,
  type Artifact,
} from './artifacts';

const rootPkg = JSON.parse(readFileSync(join(WORKSPACE_ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

describe.each(APPS)('dist/apps/%s (from nx build)', (app) => {
  const a = readArtifact(app);

  it('has main.js, a production package.json and its lockfile', () => {
    expect(a.files.map((f) => f.path)).toEqual(expect.arrayContaining(['main.js', 'package.json', 'package-lock.json']));
    expect(a.packageJson).toMatchObject({ name: app, main: 'main.js' });
    // The Node it runs on, as the workspace tests it (an older one is refused by npm ci with engine-strict).
    expect((a.packageJson as { engines?: unknown }).engines).toEqual(rootPkg.engines);
    expect(a.packageJson.devDependencies).toBeUndefined();
    expect(a.lockfile.lockfileVersion).toBeGreaterThanOrEqual(2);
  });

  it('is self-contained: every module the bundle loads is installed by npm ci, and no build tool is', () => {
    expect(artifactProblems(a, rootPkg.devDependencies)).toEqual([]);
    // The bundle pulls our libs in; only npm packages stay outside it.
    expect(a.requires.filter((r) => r.startsWith('@app/') || r.startsWith('@tools/'))).toEqual([]);
  });

  it('pins every dependency to the version the workspace tested', () => {
    for (const [name, version] of Object.entries(a.packageJson.dependencies ?? {})) {
      const installed = a.lockfile.packages[`node_modules/${name}`]?.version;
      expect({ name, installed }).toEqual({ name, installed: expect.any(String) });
      if (name in rootPkg.dependencies) expect({ name, version }).toEqual({ name, version: installed });
    }
  });
});

describe('what each app carries', () => {
  const deps = (app: string) => Object.keys(readArtifact(app).packageJson.dependencies ?? {});

  it('only the worker has the model runtime', () => {
    for (const app of CONTROL_APPS) {
      expect({ app, tf: deps(app).filter((d) => d.startsWith('@tensorflow/') || d === 'sharp') }).toEqual({ app, tf: [] });
    }
    expect(deps(WORKER_APP)).toEqual(expect.arrayContaining(['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm']));
  });

  it('the worker keeps the native TensorFlow backend optional', () => {
    const a = readArtifact(WORKER_APP);
    expect(a.packageJson.optionalDependencies).toEqual({ [TFJS_NODE]: expect.any(String) });
    expect(a.lockfile.packages[`node_modules/${TFJS_NODE}`]).toMatchObject({ optional: true });
  });

  it('only the web tier has the HTTP upload stack', () => {
    for (const app of [WORKER_APP, 'launch-controller', 'monitor-controller']) {
      expect({ app, web: deps(app).filter((d) => ['multer', 'helmet', '@nestjs/throttler'].includes(d)) }).toEqual({ app, web: [] });
    }
  });
});

describe('bareRequires', () => {
  it('lists the packages a bundle loads, not built-ins or relative files', () => {
    const src = [
      'require("@nestjs/core")',
      "require('rxjs/operators')",
      'require("node:fs")',
      'require("path")',
      'require("./inference-thread.js")',
      'require("@aws-sdk/client-s3")',
      'require("@nestjs/core")',
      "(0, node_module_1.createRequire)(__filename).resolve('@cwasm/jpeg-turbo/jpeg-turbo.wasm')",
      "(0, node_path_1.resolve)('dist')",
    ].join(';\n');
    expect(bareRequires(src)).toEqual(['@aws-sdk/client-s3', '@cwasm/jpeg-turbo', '@nestjs/core', 'rxjs']);
    expect(packageNameOf('@scope/pkg/deep/file')).toBe('@scope/pkg');
  });
});

describe('artifactProblems', () => {
  const good = (): Artifact => ({
    app: 'x',
    dir: '/nowhere',
    packageJson: { name: 'x', version: '1.0.0', main: 'main.js', dependencies: { a: '1.0.0' } },
    lockfile: {
      lockfileVersion: 3,
      packages: { '': { dependencies: { a: '1.0.0' } } as never, 'node_modules/a': { version: '1.0.0' }, 'node_modules/b': { version: '2.0.0' } },
    },
    requires: ['a', 'b'],
    files: [],
    bytes: 0,
  });

  it('accepts a package whose transitive dependencies npm ci installs at the top', () => {
    expect(artifactProblems(good(), {})).toEqual([]);
  });

  it('names a module npm ci would not install', () => {
    const a = good();
    a.requires.push('missing-pkg');
    expect(artifactProblems(a, {})).toEqual(['the bundle requires missing-pkg, which npm ci would not install']);
  });

  it('names a build tool among the dependencies, and devDependencies', () => {
    const a = good();
    a.packageJson.devDependencies = { jest: '30.0.0' };
    expect(artifactProblems(a, { a: '1.0.0' })).toEqual([
      'package.json has devDependencies: jest',
      'a is a build-time (dev) dependency of the workspace',
    ]);
  });

  it('names a lockfile that is not the package.json\'s', () => {
    const a = good();
    a.packageJson.dependencies = { a: '1.0.1' };
    expect(artifactProblems(a, {})).toEqual(["package-lock.json's root dependencies differ from package.json's"]);
  });

  it('insists that the native TensorFlow backend is optional', () => {
    const a = good();
    a.packageJson.dependencies = { [TFJS_NODE]: '4.22.0' };
    (a.lockfile.packages[''] as { dependencies?: Record<string, string> }).dependencies = { [TFJS_NODE]: '4.22.0' };
    a.lockfile.packages[`node_modules/${TFJS_NODE}`] = { version: '4.22.0' };
    a.requires = [TFJS_NODE];
    expect(artifactProblems(a, {})).toEqual([
      `${TFJS_NODE} must be under optionalDependencies (it cannot install everywhere)`,
      `package-lock.json installs ${TFJS_NODE} as required, not optional`,
    ]);
  });

  it('names a main other than main.js', () => {
    const a = good();
    a.packageJson.main = 'index.js';
    expect(artifactProblems(a, {})).toEqual(['package.json "main" is "index.js", not "main.js"']);
  });
});

describe('readArtifact', () => {
  it('says how to make a missing artifact', () => {
    expect(() => readArtifact('web-tier', '/nonexistent-root')).toThrow(
      'web-tier: dist/apps/web-tier/main.js is missing; run "npx nx build web-tier"',
    );
  });
});
