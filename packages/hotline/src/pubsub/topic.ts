import { invalidArgument, shown } from '../errors.js';

/**
 * A topic is a string, on every call that names one (`subscribe`, `unsubscribe`,
 * `isSubscribed`, `publish`, `subscriberCount`) and on every transport: a number would
 * otherwise become a topic of its own that no string publish ever reaches.
 */
export function checkTopic(topic: unknown): asserts topic is string {
  if (typeof topic !== 'string') throw invalidArgument(`topic must be a string (got ${shown(topic)})`);
}
