import { runApp } from '@app/platform';
import { AppModule } from './app/app.module';

runApp({ name: 'monitor-controller', http: true, module: (config) => AppModule.register(config) });
