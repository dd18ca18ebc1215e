// This project's long end-to-end scenarios (npm run test:e2e).
module.exports = require('../../jest.e2e.js')(require('./jest.config.cjs'));
