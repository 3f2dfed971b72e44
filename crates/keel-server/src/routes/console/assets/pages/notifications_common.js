// Notifications: what the sections share (the channels, a comma-separated list, the channel
// checkboxes).

import { h, field } from '../ui.js';

export const CHANNELS = ['inapp', 'email', 'sms', 'chat', 'push'];

export const csv = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);

export function channelBoxes(chosen) {
  const boxes = CHANNELS.map((c) => h('input', { type: 'checkbox', name: 'channel', value: c, checked: chosen.includes(c) }));
  return {
    node: h('fieldset', null, h('legend', null, 'Channels'), h('div', { class: 'actions' }, boxes.map((b) => field(b.value, b)))),
    values: () => boxes.filter((b) => b.checked).map((b) => b.value),
  };
}
