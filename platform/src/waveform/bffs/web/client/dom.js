// Building elements without innerHTML: text is always text, never markup (no XSS from data).

/** h("a", {href: "#/"}, "Stream") -> <a href="#/">Stream</a>; on* attributes add listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A toggle button: aria-pressed says its state to assistive technology and to the CSS. */
export function toggle(label, pressed, onclick) {
  return h("button", { type: "button", "aria-pressed": String(Boolean(pressed)), onclick }, label);
}

export function setPressed(button, pressed) {
  button.setAttribute("aria-pressed", String(Boolean(pressed)));
}
