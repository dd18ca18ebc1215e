import baseConfig, { appOrLibRules } from '../../eslint.config.mjs';

export default [...baseConfig, ...appOrLibRules];
