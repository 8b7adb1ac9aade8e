import { start, MAX_TEXT } from '../fastify/server.js';
import { frameworkSuite } from './framework.js';

frameworkSuite('fastify', start, MAX_TEXT);
