/**
 * Just enough of PromQL's lexical structure to say which metrics and labels an expression
 * names: selectors (`name{label="v"}`), grouping lists (`by (a, b)`), skipping strings,
 * durations and function names. For checking dashboards against what lvsd exports.
 */

export interface PromqlRefs {
  /** metric names with the label names their matchers use */
  readonly selectors: readonly { readonly metric: string; readonly labels: readonly string[] }[];
  /** label names in by / without / on / ignoring / group_left / group_right lists */
  readonly grouping: readonly string[];
}

const KEYWORDS = new Set([
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan',
]);
/** aggregation operators may take `by (...)` before their parenthesis */
const AGGREGATIONS = new Set(['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile']);
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const IDENT = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;

export function promqlRefs(expr: string): PromqlRefs {
  const selectors: { metric: string; labels: string[] }[] = [];
  const grouping: string[] = [];
  let i = 0;
  const skipSpace = (): void => { while (i < expr.length && /\s/.test(expr[i]!)) i++; };
  const skipString = (): void => {
    const q = expr[i]!;
    i++;
    while (i < expr.length && expr[i] !== q) i += expr[i] === '\\' ? 2 : 1;
    i++;
  };
  /** the label names of a `{...}` matcher list starting at i */
  const matchers = (): string[] => {
    const names: string[] = [];
    i++; // {
    while (i < expr.length && expr[i] !== '}') {
      skipSpace();
      if (expr[i] === '"' || expr[i] === "'" || expr[i] === '`') { skipString(); continue; }
      IDENT.lastIndex = i;
      const m = IDENT.exec(expr);
      if (m) { names.push(m[0]); i += m[0].length; continue; }
      i++;
    }
    i++; // }
    return names;
  };
  while (i < expr.length) {
    const c = expr[i]!;
    if (c === '"' || c === "'" || c === '`') { skipString(); continue; }
    if (c === '[') { while (i < expr.length && expr[i] !== ']') i++; i++; continue; }
    if (c === '{') { selectors.push({ metric: '', labels: matchers() }); continue; }
    if (/[0-9.]/.test(c)) { while (i < expr.length && /[0-9.eE+x_a-fA-F]/.test(expr[i]!)) i++; continue; }
    IDENT.lastIndex = i;
    const m = IDENT.exec(expr);
    if (!m) { i++; continue; }
    const word = m[0];
    i += word.length;
    skipSpace();
    if (GROUPING.has(word.toLowerCase())) {
      if (expr[i] === '(') {
        const close = expr.indexOf(')', i);
        for (const l of expr.slice(i + 1, close).split(',')) if (l.trim()) grouping.push(l.trim());
        i = close + 1;
      }
      continue;
    }
    if (KEYWORDS.has(word.toLowerCase()) || AGGREGATIONS.has(word)) continue;
    if (expr[i] === '(') continue; // a function or an aggregation
    selectors.push({ metric: word, labels: expr[i] === '{' ? matchers() : [] });
  }
  return { selectors, grouping };
}
