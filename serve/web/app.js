// The try-a-document page. It is a client of the API like any other: the file goes Base64 in JSON to
// POST /layout-parsing, and with `Accept: application/x-ndjson` each page is drawn as its line arrives.
// Markdown becomes HTML with marked (vendored in ./marked, MIT); that HTML carries text from the document, so
// sanitize() rebuilds it from an allowlist before it reaches the page.
import { Marked } from "./marked/marked.esm.js";

const $ = (id) => document.getElementById(id);
const form = $("request");
const fileInput = $("file");
const pagesView = $("pages");
const OPTIONS = ["useDocOrientationClassify", "useLayoutDetection", "useChartRecognition", "visualize"];
const DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

// Formulas arrive as `$$ latex $$`. No TeX renderer is bundled, so they are shown as their LaTeX, taken out of
// Markdown's hands first: `x_1 + y_1` would otherwise come out in italics.
const math = {
  name: "math",
  level: "inline",
  start: (src) => src.indexOf("$$"),
  tokenizer(src) {
    const match = /^\$\$([\s\S]+?)\$\$/.exec(src);
    return match ? { type: "math", raw: match[0], text: match[1].trim() } : undefined;
  },
  renderer: (token) => `<code class="math">${escapeHtml(token.text)}</code>`,
};
const markdown = new Marked({ gfm: true, extensions: [math] });

// The document being shown: its file name, its pages' results by index, and `dataInfo` once the answer is whole.
let shown = { name: "document", pages: [], dataInfo: null };

class ServiceError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = fileInput.files[0];
  if (!file) return showError(new Error("Choose a PDF or an image first."));
  shown = { name: file.name.replace(/\.[^.]*$/, "") || "document", pages: [], dataInfo: null };
  pagesView.replaceChildren();
  showError(null);
  $("toolbar").hidden = true;
  $("parse").disabled = true;
  pagesView.setAttribute("aria-busy", "true");
  setStatus(`Sending ${file.name}…`);
  const started = performance.now();
  try {
    const options = Object.fromEntries(OPTIONS.map((name) => [name, form.elements[name].checked]));
    const response = await fetch("layout-parsing", {
      method: "POST",
      headers: headers({ Accept: "application/x-ndjson" }),
      body: JSON.stringify({ file: await base64(file), ...options }),
    });
    // Whatever is refused before the first page comes as the plain error envelope, with its own status.
    if (!response.ok) throw await envelopeError(response);
    let ended = false;
    for await (const line of ndjson(response)) {
      if ("pageIndex" in line) {
        showPage(line.pageIndex, line.result);
        setStatus(`${pageResults().length} page(s) read…`);
      } else if (line.errorCode !== 0) {
        throw new ServiceError(line.errorCode, line.errorMsg); // pages already shown stay valid
      } else {
        shown.dataInfo = line.result.dataInfo;
        ended = true;
      }
    }
    if (!ended) throw new Error("The answer stopped before its last line (connection lost?)");
    setStatus(`Done: ${pageResults().length} page(s) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } catch (error) {
    showError(error);
    setStatus("");
  } finally {
    $("parse").disabled = false;
    pagesView.setAttribute("aria-busy", "false");
  }
});

// The key stays in this page's memory: sent with each API call, never stored.
function headers(extra = {}) {
  const token = $("token").value.trim();
  return { "Content-Type": "application/json", ...extra, ...(token ? { Authorization: `Bearer ${token}` } : {}) };
}

function base64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result.slice(reader.result.indexOf(",") + 1));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function envelopeError(response) {
  const text = await response.text();
  try {
    const envelope = JSON.parse(text);
    return new ServiceError(envelope.errorCode ?? response.status, envelope.errorMsg);
  } catch {
    return new ServiceError(response.status, text.slice(0, 300) || response.statusText);
  }
}

// One JSON value per line, yielded as soon as its line is complete.
async function* ndjson(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const lines = (pending + value).split("\n");
    pending = lines.pop();
    for (const line of lines) if (line.trim()) yield JSON.parse(line);
  }
  if (pending.trim()) yield JSON.parse(pending);
}

function setStatus(text) {
  $("status").textContent = text;
}

function showError(error) {
  $("error").hidden = error === null;
  if (error === null) return;
  $("error-code").textContent = error.code ? `Error ${error.code}` : "Error";
  $("error-message").textContent = error.message;
}

// Pages finish in any order; each is put in its place among those already shown.
function showPage(index, result) {
  shown.pages[index] = result;
  const section = pageSection(index, result);
  const after = [...pagesView.children].find((other) => Number(other.dataset.pageIndex) > index);
  pagesView.insertBefore(section, after ?? null);
  $("toolbar").hidden = false;
}

function pageResults() {
  return shown.pages.filter(Boolean);
}

function pageSection(index, result) {
  const { width, height, parsing_res_list: blocks } = result.prunedResult;
  const section = element("section", "page");
  section.dataset.pageIndex = index;

  const figure = element("div", "figure");
  figure.style.aspectRatio = `${width} / ${height}`;
  // Boxes are in the upright page's pixels: the preprocessed image when orientation turned the page.
  const picture = result.outputImages?.preprocessed_img ?? result.inputImage;
  if (picture) {
    const img = element("img");
    img.src = fileSource(picture);
    img.alt = `Page ${index + 1}`;
    figure.append(img);
  } else {
    figure.title = "No page image: parse with Visualize on to see the page under its boxes";
  }
  const overlay = element("div", "boxes");
  overlay.append(...blocks.map((block) => box(block, width, height)));
  figure.append(overlay);

  const rendered = element("div", "markdown");
  rendered.append(...sanitize(result.markdown.text, result.markdown.images ?? {}));
  const json = element("pre", "json");
  json.textContent = JSON.stringify(result, null, 2);

  const body = element("div", "page-body");
  body.append(figure, element("div", "content", rendered, json));
  section.append(element("h2", null, `Page ${index + 1}`), body);
  const visuals = Object.entries(result.outputImages ?? {});
  if (visuals.length) section.append(serverImages(visuals));
  return section;
}

// Drawn in percent of the page, so the boxes follow the image at whatever size it is displayed.
function box(block, width, height) {
  const [x1, y1, x2, y2] = block.block_bbox;
  const el = element("div", "box");
  el.dataset.label = block.block_label;
  el.style.left = `${(100 * x1) / width}%`;
  el.style.top = `${(100 * y1) / height}%`;
  el.style.width = `${(100 * (x2 - x1)) / width}%`;
  el.style.height = `${(100 * (y2 - y1)) / height}%`;
  el.style.setProperty("--hue", hue(block.block_label));
  el.title = block.block_content.slice(0, 300);
  const order = block.block_order ?? "";
  el.append(element("span", "box-label", `${order} ${block.block_label}`.trim()));
  return el;
}

// One colour per label, the same on every page: fixed for the common ones, so they stay apart; hashed otherwise.
const HUES = new Map(Object.entries({ text: 215, paragraph_title: 350, doc_title: 320, table: 30, image: 125,
  chart: 150, formula: 180, display_formula: 180, figure_title: 85, abstract: 280, reference: 50, header: 250,
  footer: 250, number: 250 }));

function hue(label) {
  return HUES.get(label) ?? [...label].reduce((sum, char) => (sum * 31 + char.charCodeAt(0)) % 360, 7);
}

function serverImages(visuals) {
  const details = element("details", "server-images", element("summary", null, "The service's images"));
  for (const [key, value] of visuals) {
    const img = element("img");
    img.src = fileSource(value);
    img.alt = key;
    details.append(element("figure", null, img, element("figcaption", null, key)));
  }
  return details;
}

function element(tag, className = null, ...children) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  el.append(...children);
  return el;
}

// A file of the response: a URL (`output.images: url`) or Base64 JPEG (`inline`).
function fileSource(value) {
  return isWebUrl(value) ? value : `data:image/jpeg;base64,${value}`;
}

function isWebUrl(value) {
  return /^https?:\/\//i.test(value);
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

// The sanitiser. marked passes the Markdown's own HTML (tables, centred pictures) through, and that text comes
// from the document. It is parsed into an inert document (DOMParser: no script runs, nothing loads), then
// rebuilt node by node into this page: text as text, elements only from ALLOWED with only their listed
// attributes, each value checked. Other elements are unwrapped (their text kept); DROPPED ones go with their
// content. Event handlers, `style`, `javascript:` URLs and the like never get across.
const ALLOWED = new Map(Object.entries({
  p: [], br: [], hr: [], div: [], span: [], h1: [], h2: [], h3: [], h4: [], h5: [], h6: [],
  strong: [], b: [], em: [], i: [], u: [], s: [], del: [], sub: [], sup: [], code: ["class"], pre: [],
  blockquote: [], ul: [], ol: ["start"], li: [],
  table: [], caption: [], thead: [], tbody: [], tfoot: [], tr: [],
  th: ["colspan", "rowspan"], td: ["colspan", "rowspan"],
  img: ["src", "alt", "width"], a: ["href"],
}));
const DROPPED = new Set(["script", "style", "template", "noscript", "iframe", "object", "embed", "svg", "math",
  "head", "title", "link", "meta", "form", "input", "button", "select", "textarea"]);

function sanitize(text, images) {
  const inert = new DOMParser().parseFromString(markdown.parse(text, { async: false }), "text/html");
  return rebuild(inert.body.childNodes, images);
}

function rebuild(nodes, images) {
  const out = [];
  for (const node of nodes) {
    if (node.nodeType === Node.TEXT_NODE) {
      out.push(document.createTextNode(node.data));
    } else if (node.nodeType !== Node.ELEMENT_NODE || DROPPED.has(node.localName)) {
      continue;
    } else if (!ALLOWED.has(node.localName)) {
      out.push(...rebuild(node.childNodes, images));
    } else {
      const copy = document.createElement(node.localName);
      for (const name of ALLOWED.get(node.localName)) {
        const value = node.getAttribute(name);
        const safe = value === null ? null : safeValue(name, value, images);
        if (safe !== null) copy.setAttribute(name, safe);
      }
      // The service centres pictures and table cells with an inline style; a class of ours says the same.
      if (/text-align:\s*center/i.test(node.getAttribute("style") ?? "")) copy.classList.add("center");
      if (copy.localName === "a") Object.assign(copy, { target: "_blank", rel: "noopener noreferrer" });
      copy.append(...rebuild(node.childNodes, images));
      out.push(copy);
    }
  }
  return out;
}

function safeValue(name, value, images) {
  switch (name) {
    case "colspan": case "rowspan": case "start":
      return /^\d{1,4}$/.test(value) ? value : null;
    case "width":
      return /^\d{1,4}%?$/.test(value) ? value : null;
    case "class":
      return value === "math" ? value : null;
    case "alt":
      return value;
    case "href":
      return isWebUrl(value) ? value : null;
    case "src":
      // `imgs/…` names one of the page's picture crops (URL or Base64); anything else must be a web URL.
      if (Object.hasOwn(images, value)) return fileSource(images[value]);
      return isWebUrl(value) ? value : null;
    default:
      return null;
  }
}

// Downloads: the Markdown and JSON of the pages shown, and a DOCX of the whole document made on request by
// POST /restructure-pages from those same pages (one document rather than one file per page).
$("download-markdown").addEventListener("click", () => {
  const text = pageResults().map((page) => page.markdown.text).join("\n\n");
  save(new Blob([text], { type: "text/markdown" }), `${shown.name}.md`);
});

$("download-json").addEventListener("click", () => {
  const result = { layoutParsingResults: pageResults(), dataInfo: shown.dataInfo };
  save(new Blob([JSON.stringify(result, null, 2)], { type: "application/json" }), `${shown.name}.json`);
});

$("download-docx").addEventListener("click", async (event) => {
  event.target.disabled = true;
  try {
    const pages = pageResults().map((page) => ({
      prunedResult: page.prunedResult, markdownImages: page.markdown.images,
    }));
    const response = await fetch("restructure-pages", {
      method: "POST",
      headers: headers(),
      body: JSON.stringify({ pages, concatenatePages: true, outputFormats: ["docx"] }),
    });
    if (!response.ok) throw await envelopeError(response);
    const { content } = (await response.json()).result.layoutParsingResults[0].exports.docx;
    save(isWebUrl(content) ? content : new Blob([Uint8Array.from(atob(content), (c) => c.charCodeAt(0))],
      { type: DOCX_TYPE }), `${shown.name}.docx`);
  } catch (error) {
    showError(error);
  } finally {
    event.target.disabled = false;
  }
});

function save(target, fileName) {
  const link = element("a");
  link.href = target instanceof Blob ? URL.createObjectURL(target) : target;
  link.download = fileName;
  link.click();
  // The download has its own copy once started; a minute is ample for the browser to begin it.
  if (target instanceof Blob) setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}

$("show-json").addEventListener("change", (event) => pagesView.classList.toggle("show-json", event.target.checked));

const drop = $("drop");
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  fileInput.files = event.dataTransfer.files;
  fileInput.dispatchEvent(new Event("change"));
});
fileInput.addEventListener("change", () => {
  $("file-name").textContent = fileInput.files[0]?.name ?? "Drop a PDF or an image here, or click to choose one";
});
