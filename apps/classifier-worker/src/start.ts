import { runApp } from '@app/platform';
import { AppModule } from './app/app.module';
import type { PreloadedModel } from './preload';

export function startWorker(preloaded: PreloadedModel | undefined): void {
  runApp({ name: 'classifier-worker', http: false, module: (config) => AppModule.register(config, preloaded) });
}
