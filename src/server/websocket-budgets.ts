import { ByteBudget } from '../resources/byte-budget.js';
import { InflateScheduler } from '../websocket/inflate-scheduler.js';
import { DEFAULT_SERVER_OPTIONS, type ResolvedServerOptions } from './options.js';

/**
 * What the WebSocket connections of one server bound together: the bytes they hold in
 * incomplete frames and messages (`maxPartialBytes`), and the rate at which they inflate
 * (`maxInflateRate`). Each connection alone is bounded by its own limits (`maxPayload`);
 * these bound the sum, which would otherwise grow with the number of connections.
 */
export interface WebSocketBudgets {
  readonly partial: ByteBudget;
  /** Null when the rate is unlimited. */
  readonly inflate: InflateScheduler | null;
}

type BudgetOptions = Partial<Pick<ResolvedServerOptions, 'maxPartialBytes' | 'maxInflateRate'>>;

/**
 * Found from the server's resolved options: a server resolves its options once, into an
 * object of its own, which its peers and its extension negotiator are both given.
 */
const byServer = new WeakMap<BudgetOptions, WebSocketBudgets>();

/** The budgets of the server whose resolved options these are, made on first use. */
export function budgetsOf(options: BudgetOptions): WebSocketBudgets {
  let budgets = byServer.get(options);
  if (budgets === undefined) {
    const rate = options.maxInflateRate ?? DEFAULT_SERVER_OPTIONS.maxInflateRate;
    budgets = {
      partial: new ByteBudget('maxPartialBytes', options.maxPartialBytes ?? DEFAULT_SERVER_OPTIONS.maxPartialBytes),
      inflate: rate === Infinity ? null : new InflateScheduler(rate),
    };
    byServer.set(options, budgets);
  }
  return budgets;
}
