import { runApp } from '@app/platform';
import { AppModule } from './app/app.module';

runApp({ name: 'web-tier', http: true, module: (config) => AppModule.register(config) });
