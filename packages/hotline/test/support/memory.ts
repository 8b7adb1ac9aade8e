/**
 * A full garbage collection on demand, without running node with --expose-gc: memory
 * assertions compare live bytes, not garbage that happens not to be collected yet.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

v8.setFlagsFromString('--expose-gc');
const collect = vm.runInNewContext('gc') as () => void;

export function gc(): void {
  collect();
}
