// Small DOM helpers shared by the console's views: building elements (text only, never HTML
// strings), times, messages for screen readers, and errors shown next to the field at fault.
export const $ = (id) => document.getElementById(id);

// el('td', { class: 'x', title: 't' }, 'text', child): attributes as given; children are nodes
// or text.
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value == null) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

// A <time> for Unix milliseconds, in the reader's locale and zone; "—" for none.
export function time(ms) {
  if (ms == null || ms === '') return '—';
  const date = new Date(Number(ms));
  if (Number.isNaN(date.getTime())) return String(ms);
  return el('time', { datetime: date.toISOString() }, date.toLocaleString());
}

// Device ids and workspace ids are long: show the start, keep the whole for copy and tooltips.
export function shortId(id, keep = 12) {
  if (!id) return '—';
  const text = id.length > keep + 1 ? `${id.slice(0, keep)}…` : id;
  return el('code', { title: id, class: 'mono' }, text);
}

export function announce(text) {
  const live = $('announce');
  live.textContent = '';
  // A fresh text node after a tick, so that the same message twice is read twice.
  setTimeout(() => { live.textContent = text; }, 50);
}

export function showMessage(node, text) {
  node.textContent = text || '';
  node.hidden = !text;
}

// Errors shown under their fields: `fields` maps an API field name (or a prefix such as
// "allowed_relays") to the input's id; that input's error is the element `${id}-error`.
export class FieldErrors {
  constructor(fields, formError) {
    this.fields = fields;
    this.formError = formError;
  }

  clear() {
    for (const id of Object.values(this.fields)) {
      $(id).removeAttribute('aria-invalid');
      const error = $(`${id}-error`);
      if (error) showMessage(error, '');
    }
    showMessage(this.formError, '');
  }

  // Shows `message` next to the input for `field` and focuses it; next to the form when the
  // field is not one of this form's. Returns the input, or null.
  show(field, message) {
    const key = Object.keys(this.fields).find((f) => field === f || field.startsWith(`${f}[`));
    if (!key) {
      showMessage(this.formError, message);
      return null;
    }
    const input = $(this.fields[key]);
    const error = $(`${this.fields[key]}-error`);
    input.setAttribute('aria-invalid', 'true');
    showMessage(error || this.formError, message);
    input.focus();
    return input;
  }
}

// Disables `button` while `work` runs, and marks its form busy.
export async function busy(button, work) {
  if (button) button.disabled = true;
  button?.form?.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    if (button) button.disabled = false;
    button?.form?.removeAttribute('aria-busy');
  }
}

// What to tell a person about a failed call that no form field explains.
export function describe(error) {
  if (error.status === 503) {
    return 'The relay cannot reach its database right now. Try again in a moment.';
  }
  if (error.status === 0) return error.message;
  return error.message.charAt(0).toUpperCase() + error.message.slice(1);
}
