// Small statistics the benchmarks share: rounds are summarised by their median, over the values
// that were measured (a round that failed records null).
'use strict';

/** The finite numbers of `a` (nulls and NaNs of failed rounds left out). */
const finite = (a) => a.filter((x) => Number.isFinite(x));

/** The median of the finite numbers of `a` (the mean of the middle two for an even count), or null. */
function median(a) {
  const s = finite(a).sort((x, y) => x - y);
  if (!s.length) return null;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

module.exports = { finite, median };
