import { runApp } from '@app/platform';
import { AppModule } from './app/app.module';

runApp({ name: 'classifier-worker', http: false, module: (config) => AppModule.register(config) });
