/** Every fuzz target, in the order runs take them. */
import type { Target } from '../target.js';
import { extensions } from './extensions.js';
import { frames } from './frames.js';
import { pollingBody } from './polling-body.js';
import { requestHead } from './request-head.js';
import { sse } from './sse.js';
import { upgradeMessages } from './upgrade-messages.js';

export const TARGETS: readonly Target[] = [frames, requestHead, extensions, pollingBody, sse, upgradeMessages];
