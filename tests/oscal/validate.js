// Validates OSCAL JSON documents against an official OSCAL JSON schema
// (draft-07) with ajv + ajv-formats, and checks that every control id a
// document cites exists in the catalog.
//
// usage: node validate.js SCHEMA CATALOG DOC...
// Prints one line per document; exits 0 when all are valid, 1 otherwise.
'use strict';
const fs = require('fs');
const Ajv = require('ajv');
const addFormats = require('ajv-formats');

const [schemaPath, catalogPath, ...docs] = process.argv.slice(2);
if (!schemaPath || !catalogPath || docs.length === 0) {
	console.error('usage: validate.js SCHEMA CATALOG DOC...');
	process.exit(2);
}

// Ajv's default class implements draft-07, which the OSCAL schemas use.
const ajv = new Ajv({ allErrors: true, strict: true });
addFormats(ajv);
const validate = ajv.compile(JSON.parse(fs.readFileSync(schemaPath, 'utf8')));

const ids = new Set();
(function walk(list) {
	for (const c of list || []) {
		ids.add(c.id);
		walk(c.controls);
	}
})([].concat(...JSON.parse(fs.readFileSync(catalogPath, 'utf8'))
	.catalog.groups.map((g) => g.controls || [])));

// Control ids cited: control-id values anywhere, and finding targets
// ("ac-2_smt", "ac-2_obj...").
function cited(node, out) {
	if (Array.isArray(node)) {
		node.forEach((n) => cited(n, out));
	} else if (node && typeof node === 'object') {
		for (const [k, v] of Object.entries(node)) {
			if (k === 'control-id') out.push(v);
			else if (k === 'target-id') out.push(v.replace(/_(smt|obj).*$/, ''));
			else cited(v, out);
		}
	}
	return out;
}

let bad = 0;
for (const d of docs) {
	const doc = JSON.parse(fs.readFileSync(d, 'utf8'));
	const ok = validate(doc);
	const refs = cited(doc, []);
	const unknown = refs.filter((id) => !ids.has(id));
	if (!ok) {
		bad++;
		console.log(`INVALID ${d}: ${validate.errors.length} schema errors`);
		for (const e of validate.errors.slice(0, 10))
			console.log(`  ${e.instancePath} ${e.message}`);
	} else if (unknown.length) {
		bad++;
		console.log(`INVALID ${d}: unknown control ids ${[...new Set(unknown)].join(', ')}`);
	} else {
		console.log(`valid ${d}: 0 schema errors, ${refs.length} control citations, all in the catalog`);
	}
}
process.exit(bad ? 1 : 0);
