import { start, MAX_TEXT } from '../express/server.js';
import { frameworkSuite } from './framework.js';

frameworkSuite('express', start, MAX_TEXT);
