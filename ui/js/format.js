// Numbers, times and the engine's one-liners in plain words.

export function duration(seconds) {
  if (seconds < 60) return 'less than a minute';
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d) return `${d} day${d === 1 ? '' : 's'}, ${h} hour${h === 1 ? '' : 's'}`;
  if (h) return `${h} hour${h === 1 ? '' : 's'}, ${m} minute${m === 1 ? '' : 's'}`;
  return `${m} minute${m === 1 ? '' : 's'}`;
}

export function when(value) {
  if (value === null || value === undefined) return null;
  const date = typeof value === 'number' ? new Date(value) : new Date(String(value));
  return isNaN(date) ? String(value) : date.toLocaleString();
}

export function bytes(count) {
  if (count < 1000) return `${count} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = count;
  let unit = -1;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

export function speed(kbps) {
  return kbps === 0 ? 'no limit' : `${Number((kbps / 1000).toFixed(3))} Mbit/s`;
}

// The engine's one-line state as a sentence.
export function sentence(line) {
  const text = line.charAt(0).toUpperCase() + line.slice(1);
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

// A person's name, with "(administrator)" for the owner and administrators.
export function nameAndRank(person) {
  return ['owner', 'admin'].includes(person.role) ? `${person.username} (administrator)` : person.username;
}
