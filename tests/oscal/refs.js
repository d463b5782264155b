// Walks every cross-reference of a set of OSCAL documents and fails,
// naming each one, on any that does not resolve. A document's scope is
// itself plus what it imports, transitively: import-ap, import-ssp and
// import-component-definitions hrefs, and back-matter resources whose
// rlink names a local OSCAL file (how the SSP names its component
// definition). Checked:
//   import hrefs        the file exists beside the document and holds the model named
//   "#uuid" hrefs       a back-matter resource in scope
//   component-uuid      a component (SSP, component definition, plan); in
//                       an SSP, one of its own that the component
//                       definition it names also defines
//   observation-uuid    an observation of the same document
//   risk-uuid           a risk of the same document
//   finding-uuid        a finding of the same document
//   task-uuid           a task in scope
//   activity-uuid       an activity in scope
//   actor-uuid          by type: tool (component), assessment-platform, party
//   subject-uuid        by type: component, inventory-item, user, party,
//                       location, resource
//   party-uuid(s)       a party in scope
//   role-id(s)          a role of a metadata in scope
// Paths ("/etc/shadow") and URLs are evidence on the assessed host or
// outside documents and are not references to walk.
//
// usage: node refs.js DOC...
// Prints each dangling reference and a count; exits 0 when none, 1 otherwise.
'use strict';
const fs = require('fs');
const path = require('path');

const MODELS = ['system-security-plan', 'component-definition', 'assessment-plan',
	'assessment-results', 'plan-of-action-and-milestones'];
const IMPORTS = {
	'import-ap': 'assessment-plan',
	'import-ssp': 'system-security-plan',
	'import-component-definitions': 'component-definition',
};

const cache = new Map();
function load(file) {
	file = path.resolve(file);
	if (!cache.has(file)) {
		const json = JSON.parse(fs.readFileSync(file, 'utf8'));
		const model = MODELS.find((m) => json[m]);
		if (!model) throw new Error(`${file}: not an OSCAL document`);
		cache.set(file, { file, model, root: json[model], defs: null });
	}
	return cache.get(file);
}

// Everything a document defines: uuid -> kind (the array key it sits in),
// and metadata role ids.
function defs(doc) {
	if (doc.defs) return doc.defs;
	const uuids = new Map();
	const roles = new Set();
	(function walk(node, key) {
		if (Array.isArray(node)) {
			node.forEach((n) => walk(n, key));
		} else if (node && typeof node === 'object') {
			if (typeof node.uuid === 'string') uuids.set(node.uuid, key);
			for (const [k, v] of Object.entries(node)) walk(v, k);
		}
	})(doc.root, doc.model);
	for (const r of (doc.root.metadata && doc.root.metadata.roles) || []) roles.add(r.id);
	doc.defs = { uuids, roles };
	return doc.defs;
}

// A local file an href names, relative to DOC; null for URLs, fragments
// and absolute paths.
function localFile(doc, href) {
	if (typeof href !== 'string' || href === '' || href.startsWith('#') ||
	    href.startsWith('/') || /^[a-z][a-z0-9+.-]*:/i.test(href))
		return null;
	return path.join(path.dirname(doc.file), href);
}

// The documents DOC imports, and the problems with its import hrefs.
function imports(doc, bad) {
	const out = [];
	for (const [key, model] of Object.entries(IMPORTS)) {
		const v = doc.root[key];
		for (const imp of Array.isArray(v) ? v : v ? [v] : []) {
			const where = `${key}.href ${JSON.stringify(imp.href)}`;
			if (typeof imp.href === 'string' && imp.href.startsWith('#'))
				continue; // a back-matter resource: checked as an href
			const f = localFile(doc, imp.href);
			if (!f || !fs.existsSync(f)) {
				bad.push(`${where}: no such file beside the document`);
				continue;
			}
			const d = load(f);
			if (d.model !== model) bad.push(`${where}: holds a ${d.model}, not a ${model}`);
			out.push(d);
		}
	}
	for (const r of (doc.root['back-matter'] || {}).resources || [])
		for (const l of r.rlinks || []) {
			const f = localFile(doc, l.href);
			if (!f) continue;
			if (!fs.existsSync(f)) {
				bad.push(`back-matter resource ${r.uuid} rlink ${l.href}: no such file`);
				continue;
			}
			out.push(load(f));
		}
	return out;
}

// DOC and everything it imports, transitively.
function scope(doc, bad) {
	const seen = new Set([doc]);
	const todo = [doc];
	while (todo.length) {
		const cur = todo.pop();

		for (const d of imports(cur, cur === doc ? bad : [])) {
			if (!seen.has(d)) { seen.add(d); todo.push(d); }
		}
	}
	return [...seen];
}

const ACTOR = { tool: ['components'], 'assessment-platform': ['assessment-platforms'],
	party: ['parties'] };
const SUBJECT = { component: ['components'], 'inventory-item': ['inventory-items'],
	user: ['users'], party: ['parties'], location: ['locations'], resource: ['resources'] };

function check(file) {
	const doc = load(file);
	const bad = [];
	const docs = scope(doc, bad);
	const local = defs(doc);
	const has = (uuid, kinds, only) => (only ? [doc] : docs).some((d) => {
		const k = defs(d).uuids.get(uuid);
		return k !== undefined && kinds.includes(k);
	});
	const role = (id) => docs.some((d) => defs(d).roles.has(id));
	let n = 0;
	const want = (at, what, uuid, kinds, only) => {
		n++;
		if (!has(uuid, kinds, only))
			bad.push(`${at}: ${what} ${uuid} does not resolve to ${kinds.join('/')}` +
			    (only ? ' in this document' : ''));
	};
	(function walk(node, at) {
		if (Array.isArray(node)) return node.forEach((v, i) => walk(v, `${at}[${i}]`));
		if (!node || typeof node !== 'object') return;
		for (const [k, v] of Object.entries(node)) {
			const here = `${at}.${k}`;
			switch (k) {
			case 'component-uuid':
				// An SSP's components are its own, taken from the
				// component definition it names under the same UUIDs.
				want(here, k, v, ['components'], doc.model === 'system-security-plan');
				if (doc.model === 'system-security-plan' &&
				    !docs.some((d) => d.model === 'component-definition' &&
				    defs(d).uuids.get(v) === 'components'))
					bad.push(`${here}: component-uuid ${v} is not a component of the component definition`);
				break;
			case 'observation-uuid': want(here, k, v, ['observations'], true); break;
			case 'risk-uuid': want(here, k, v, ['risks'], true); break;
			case 'finding-uuid': want(here, k, v, ['findings'], true); break;
			case 'task-uuid': want(here, k, v, ['tasks']); break;
			case 'activity-uuid': want(here, k, v, ['activities']); break;
			case 'party-uuid': want(here, k, v, ['parties']); break;
			case 'party-uuids': v.forEach((u, i) => want(`${here}[${i}]`, k, u, ['parties'])); break;
			case 'actor-uuid':
				want(here, `${node.type} ${k}`, v, ACTOR[node.type] || ['(unknown actor type)']);
				break;
			case 'subject-uuid':
				want(here, `${node.type} ${k}`, v, SUBJECT[node.type] || ['(unknown subject type)']);
				break;
			case 'role-id':
				n++;
				if (!role(v)) bad.push(`${here}: role-id ${v} is not a role of any metadata in scope`);
				break;
			case 'role-ids':
				v.forEach((r, i) => { n++; if (!role(r)) bad.push(`${here}[${i}]: role-id ${r} is not a role`); });
				break;
			case 'href':
				if (typeof v === 'string' && v.startsWith('#'))
					want(here, 'href', v.slice(1), ['resources']);
				break;
			}
			walk(v, here);
		}
	})(doc.root, doc.model);
	return { doc, bad, n, scope: docs.map((d) => path.basename(d.file)), local };
}

const files = process.argv.slice(2);
if (files.length === 0) {
	console.error('usage: refs.js DOC...');
	process.exit(2);
}
let fails = 0;
for (const f of files) {
	const { bad, n, scope: s } = check(f);
	const name = path.basename(f);
	if (bad.length) {
		fails++;
		console.log(`DANGLING ${name}: ${bad.length} of ${n} references do not resolve (scope: ${s.join(', ')})`);
		for (const b of bad.slice(0, 50)) console.log(`  ${name}: ${b}`);
	} else {
		console.log(`resolved ${name}: ${n} references (scope: ${s.join(', ')})`);
	}
}
process.exit(fails ? 1 : 0);
