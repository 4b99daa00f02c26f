// GET /docs: the OpenAPI document (/openapi.json) rendered for people, with nothing but this
// file and the console's stylesheet, so it works offline and under a strict CSP. Text only
// (textContent), never parsed HTML.
const METHODS = ["get", "post", "put", "patch", "delete"];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  for (const child of children) {
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function schemaName(schema) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.type === "array") return `[${schemaName(schema.items)}]`;
  return schema.type || "";
}

function operation(path, method, op) {
  const section = el("section", { class: "card", id: op.operationId || `${method}-${path}` });
  section.append(el("h3", {}, el("code", {}, `${method.toUpperCase()} ${path}`), " ", op.summary || ""));
  if (op.description) section.append(el("p", {}, op.description));
  const params = op.parameters || [];
  if (params.length) {
    const list = el("ul");
    for (const p of params) {
      list.append(el("li", {}, el("code", {}, p.name), ` (${p.in}${p.required ? ", required" : ""}) ${p.description || ""}`));
    }
    section.append(el("p", {}, "Parameters:"), list);
  }
  const body = op.requestBody?.content;
  if (body) {
    const types = Object.entries(body).map(([type, c]) => `${type} ${schemaName(c.schema)}`);
    section.append(el("p", {}, "Body: ", el("code", {}, types.join(", "))));
  }
  const responses = el("ul");
  for (const [status, r] of Object.entries(op.responses || {})) {
    const json = r.content?.["application/json"]?.schema;
    responses.append(el("li", {}, el("code", {}, status), ` ${r.description || ""} ${json ? schemaName(json) : ""}`));
  }
  section.append(el("p", {}, "Responses:"), responses);
  return section;
}

async function main() {
  const root = document.getElementById("main");
  let doc;
  try {
    const response = await fetch("/openapi.json");
    doc = await response.json();
  } catch (error) {
    root.replaceChildren(el("p", { class: "error" }, `Could not load /openapi.json: ${error}`));
    return;
  }
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = (op.tags && op.tags[0]) || "other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operation(path, method, op));
    }
  }
  const children = [el("h1", {}, `${doc.info?.title || "API"} ${doc.info?.version || ""}`)];
  if (doc.info?.description) children.push(el("p", {}, doc.info.description));
  for (const [tag, ops] of byTag) children.push(el("h2", {}, tag), ...ops);
  root.replaceChildren(...children);
}

main();
