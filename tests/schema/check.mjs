// check.mjs — judges every example event in tests/events/{valid,invalid}/ with ajv against
// schemas/events/<event.type>.json, the published contract the C workers embed.
//
//   node check.mjs          one line per example: "<verdict> <path>" (+ the ajv error when
//                           invalid); exit 1 when a valid/ example fails or an invalid/ passes
//   node check.mjs --list   "<path>\t<verdict>" per example, for the C validator's cross-check
//
// Before judging, the schemas are linted for the subset the C evaluator (common/json_schema.h)
// understands: allowed keywords, $ref forms, and patterns that read the same in ECMA-262 and
// POSIX ERE. Paths are relative to the repository root. Exit 2 on a schema or setup error.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Ajv2020 from "ajv/dist/2020.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SCHEMA_DIR = path.join(ROOT, "schemas/events");
const EXAMPLE_DIR = path.join(ROOT, "tests/events");
const ID_PREFIX = "https://orderflow.dev/schemas/events/";
const listMode = process.argv.includes("--list");

const KEYWORDS = new Set([
  "$schema", "$id", "$defs", "$ref", "title", "description", "type", "properties", "required",
  "additionalProperties", "items", "minItems", "maxItems", "enum", "const", "minLength",
  "maxLength", "pattern", "minimum", "maximum", "exclusiveMinimum", "allOf", "anyOf", "oneOf",
  "not", "if", "then", "else", "format",
]);
const SCHEMA_VALUED = new Set(["additionalProperties", "items", "not", "if", "then", "else"]);
const SCHEMA_ARRAYS = new Set(["allOf", "anyOf", "oneOf"]);
const SCHEMA_MAPS = new Set(["properties", "$defs"]);
const REF_FORM = /^(#\/\$defs\/[A-Za-z0-9_]+|[A-Za-z0-9._-]+\.json(#\/\$defs\/[A-Za-z0-9_]+)?)$/;

function die(msg) {
  console.error(`check.mjs: ${msg}`);
  process.exit(2);
}

// Returns a reason when the pattern is outside the ECMA-262 ∩ POSIX ERE subset, else null.
function patternProblem(p) {
  if (!p.startsWith("^") || !p.endsWith("$")) return "must be anchored with ^...$";
  let inClass = false;
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (inClass) {
      if (c === "\\") return "no backslash inside [...] (POSIX reads it literally)";
      if (c === "[" && p[i + 1] === ":") return "no POSIX [:class:]";
      if (c === "]") inClass = false;
      continue;
    }
    if (c === "\\") {
      if (!".-+".includes(p[i + 1] ?? "")) return `escape \\${p[i + 1] ?? ""} not allowed`;
      i++;
      continue;
    }
    if (c === "[") {
      inClass = true;
      if (p[i + 1] === "^") i++;
      if (p[i + 1] === "]") return "no empty or ']'-leading class";
      continue;
    }
    if (c === ".") return "no '.' wildcard (use a class)";
    if (c === "(" && p[i + 1] === "?") return "no (?...) groups";
    if ("*+?}".includes(c) && p[i + 1] === "?" && c !== "?") return "no non-greedy quantifiers";
    if (c === "?" && p[i + 1] === "?") return "no non-greedy quantifiers";
    if (c === "$" && i !== p.length - 1) return "'$' only at the end";
    if (c === "^" && i !== 0) return "'^' only at the start";
  }
  if (inClass) return "unterminated class";
  return null;
}

function lint(node, where, problems) {
  if (typeof node === "boolean") return;
  if (node === null || typeof node !== "object" || Array.isArray(node)) {
    problems.push(`${where}: a schema must be an object or boolean`);
    return;
  }
  for (const [k, v] of Object.entries(node)) {
    const at = `${where}/${k}`;
    if (!KEYWORDS.has(k)) problems.push(`${at}: keyword not supported by the C evaluator`);
    else if (k === "$ref" && !REF_FORM.test(v)) problems.push(`${at}: $ref form not supported: ${v}`);
    else if (k === "pattern") {
      const why = patternProblem(v);
      if (why) problems.push(`${at}: pattern ${JSON.stringify(v)}: ${why}`);
    } else if (SCHEMA_VALUED.has(k)) lint(v, at, problems);
    else if (SCHEMA_ARRAYS.has(k)) v.forEach((s, i) => lint(s, `${at}/${i}`, problems));
    else if (SCHEMA_MAPS.has(k)) for (const [n, s] of Object.entries(v)) lint(s, `${at}/${n}`, problems);
  }
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, "utf8"));
}

// ---- load and lint the schemas
// Strict mode throughout, except strictRequired: the if/then rules of order.price_changed
// require fields that the enclosing schema defines, which ajv cannot see from "then".
// "format" is an annotation only, as in the C evaluator.
const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: false,
  validateFormats: false, verbose: true });
const schemaFiles = fs.readdirSync(SCHEMA_DIR).filter((f) => f.endsWith(".json")).sort();
if (schemaFiles.length === 0) die(`no schemas in ${SCHEMA_DIR}`);
const problems = [];
for (const f of schemaFiles) {
  let doc;
  try {
    doc = readJson(path.join(SCHEMA_DIR, f));
  } catch (e) {
    die(`schemas/events/${f}: ${e.message}`);
  }
  if (doc.$schema !== "https://json-schema.org/draft/2020-12/schema")
    problems.push(`schemas/events/${f}: $schema must be draft 2020-12`);
  if (doc.$id !== ID_PREFIX + f) problems.push(`schemas/events/${f}: $id must be ${ID_PREFIX + f}`);
  lint(doc, `schemas/events/${f}#`, problems);
  ajv.addSchema(doc);
}
if (problems.length) die(`schema lint failed:\n  ${problems.join("\n  ")}`);
const validators = new Map();
for (const f of schemaFiles) {
  try {
    validators.set(f, ajv.getSchema(ID_PREFIX + f));
  } catch (e) {
    die(`schemas/events/${f}: ${e.message}`);
  }
}

// One readable line for the first failure, close to what the C validator prints:
// "data.amount: must be a decimal amount like 15.00 (got \"abc\")" when the failing schema
// has a title, else ajv's own message.
function describe(errors) {
  const err = errors.find((e) => e.keyword === "anyOf" || e.keyword === "oneOf") ?? errors[0];
  const where = err.instancePath
    ? err.instancePath.slice(1).split("/").map((seg, i) => (/^[0-9]+$/.test(seg) ? `[${seg}]` : (i ? "." : "") + seg)).join("")
    : "(event)";
  const titled = ["type", "pattern", "enum", "const", "minimum", "maximum", "exclusiveMinimum",
    "minLength", "maxLength", "anyOf", "oneOf"];
  if (err.parentSchema?.title && titled.includes(err.keyword)) {
    let got = JSON.stringify(err.data) ?? "undefined";
    if (got.length > 40) got = got.slice(0, 37) + "...";
    return `${where}: must be a ${err.parentSchema.title} (got ${got})`;
  }
  let msg = `${where}: ${err.message}`;
  if (err.keyword === "additionalProperties") msg += ` '${err.params.additionalProperty}'`;
  if (err.keyword === "enum") msg += `: ${err.params.allowedValues.join(", ")}`;
  if (err.keyword === "const") msg += ` ${JSON.stringify(err.params.allowedValue)}`;
  return msg;
}

// Judges one example: {verdict, reason}. A file that is not JSON or names no known type is
// a defect of the example set (the C side dispatches on "type"), reported as "broken".
function judge(file) {
  let event;
  try {
    event = readJson(file);
  } catch (e) {
    return { verdict: "broken", reason: `not JSON: ${e.message}` };
  }
  const type = event && typeof event === "object" ? event.type : undefined;
  const validate = typeof type === "string" ? validators.get(`${type}.json`) : undefined;
  if (!validate) return { verdict: "broken", reason: `no schema for type ${JSON.stringify(type)}` };
  if (validate(event)) return { verdict: "valid", reason: "" };
  return { verdict: "invalid", reason: describe(validate.errors) };
}

// ---- judge the examples
const rows = [];
for (const expected of ["valid", "invalid"]) {
  const dir = path.join(EXAMPLE_DIR, expected);
  if (!fs.existsSync(dir)) die(`missing ${path.relative(ROOT, dir)}`);
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith(".json")).sort()) {
    const rel = path.relative(ROOT, path.join(dir, f));
    rows.push({ rel, expected, ...judge(path.join(dir, f)) });
  }
}

if (listMode) {
  for (const r of rows) console.log(`${r.rel}\t${r.verdict}`);
  process.exit(rows.some((r) => r.verdict === "broken") ? 1 : 0);
}

let bad = 0;
for (const r of rows) {
  const ok = r.verdict === r.expected;
  if (!ok) bad++;
  const reason = r.reason ? `  ${r.reason}` : "";
  console.log(`${r.verdict} ${r.rel}${reason}${ok ? "" : `  <-- expected ${r.expected}`}`);
}
const count = (e) => rows.filter((r) => r.expected === e).length;
console.log(`\n${schemaFiles.length} schemas; ${rows.length} examples (${count("valid")} valid, ` +
  `${count("invalid")} invalid); ${bad === 0 ? "all as expected" : `${bad} NOT as expected`}`);
process.exit(bad === 0 ? 0 : 1);
