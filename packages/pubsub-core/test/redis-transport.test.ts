import { transportContract } from './contract-suite.js';
import { redisHarness } from './redis-harness.js';

transportContract('redis (PUBLISH/SUBSCRIBE)', () => redisHarness());
