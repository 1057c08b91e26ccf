/**
 * Why an IPVS change is made, in words for the log: pure. The reconciler only knows tables;
 * the daemon knows which realserver an entry belongs to and what state it is in.
 */
import type { ServiceConfig } from '../config/types.js';
import type { IpvsOp } from '../ipvs/types.js';
import type { Health } from '../state/realserver.js';
import type { AdminState } from '../state/weight.js';

export interface ExplainedRealserver {
  readonly health: Health;
  readonly admin: AdminState;
  readonly configuredWeight: number;
  /** the last probe's verdict in words ("fail: HTTP 503"), if any */
  readonly lastResult?: string;
}

export interface ExplainContext {
  /** the managed service the op is about (undefined: not one lvsd manages) */
  readonly service: ServiceConfig | undefined;
  /** the realserver the destination is (undefined: the sorry server, or not in the config) */
  readonly realserver: ExplainedRealserver | undefined;
  readonly isSorryServer: boolean;
}

export function explainOp(op: IpvsOp, c: ExplainContext): string {
  switch (op.op) {
    case 'add-service':
      return c.service ? `service ${c.service.name} is in the config and not in the kernel` : 'service added';
    case 'edit-service':
      return c.service ? `service ${c.service.name}: scheduler or persistence differs from the config` : 'service edited';
    case 'delete-service':
      return 'service no longer in the config (reload)';
    default:
      break;
  }
  if (c.isSorryServer) {
    return op.op === 'delete-dest' ? 'sorry server out: a realserver is UP again' : 'sorry server in: no realserver is UP';
  }
  const rs = c.realserver;
  if (!rs) {
    return op.op === 'delete-dest' ? 'not in the config (drained or no active connections left)' : 'not in the config: drained at weight 0 before removal';
  }
  const why = rs.lastResult ? ` (${rs.lastResult})` : '';
  if (rs.admin === 'maint') return 'maintenance: taken out of the table by the operator';
  if (rs.admin === 'drain') return 'drained by the operator: weight 0';
  switch (rs.health) {
    case 'down':
      return op.op === 'delete-dest' ? `DOWN, on_down remove${why}` : `DOWN, quiescent at weight 0${why}`;
    case 'up':
      if (op.dest.weight < rs.configuredWeight) return `UP, slow start: weight ${op.dest.weight} of ${rs.configuredWeight}`;
      return `UP: weight ${op.dest.weight}${why}`;
    case 'unknown':
      return 'no verdict yet: the table keeps its weight';
  }
}
