#!/usr/bin/env python3
"""The documents' SQL, for the tests that run it (test/stages/docs.sh and the
stages that run a document's block as a role of its own).

    docs.py lint                 check every document: fences, markers, links, paths
    docs.py script DOC           the psql script of DOC's blocks that docs.sh runs
    docs.py roles DOC            the roles DOC's run blocks create (one a line)
    docs.py block DOC NAME       the block named NAME (run by another stage)
    docs.py account              one line per SQL block of every document

The documents are README.md and docs/*.md.  Every fenced block whose info
string is `sql` is accounted for in one of these ways, by the HTML comment on
the line right before its fence:

    (no comment)                                   docs.sh runs it, in order, in
                                                   one psql session per document
    <!-- doc-test: error SQLSTATE -->              docs.sh runs it; its last
                                                   statement must fail with SQLSTATE
    <!-- doc-test: stage test/stages/X.sh NAME --> X.sh runs it, through
                                                   `doc_block DOC NAME` (test/lib/docs.sh)
    <!-- doc-test: norun REASON -->                nobody runs it, for the reason given

Between blocks a document may hold checks of what its text claims, run by
docs.sh at that point of the session (a check that is not true fails it):

    <!-- check: BOOLEAN EXPRESSION -->             (may span lines)
    <!-- wait-job: :var -->                        wait until job :var has ended

Any other fence whose info string names SQL (psql, postgresql, SQL, sql-x, …)
fails the lint: SQL is either accounted for or not written as SQL.
"""
import glob
import os
import re
import sys

TOP = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
SQLISH = re.compile(r'^(sql|psql|pgsql|plpgsql|postgres|postgresql)\b', re.I)
DIRECTIVE = re.compile(r'^<!--\s*doc-test:\s*(\S+)\s*(.*?)\s*-->\s*$')
COMMENT_KIND = re.compile(r'^<!--\s*(check|wait-job):\s*(.*)$', re.S)


def documents():
    docs = ['README.md'] + sorted(os.path.relpath(p, TOP) for p in glob.glob(os.path.join(TOP, 'docs', '*.md')))
    return [d for d in docs if os.path.exists(os.path.join(TOP, d))]


class DocError(Exception):
    pass


def parse(doc):
    """Items in document order: dicts with kind block / check / wait-job."""
    path = os.path.join(TOP, doc)
    with open(path, encoding='utf-8') as f:
        lines = f.read().split('\n')
    items, errors = [], []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r'^(\s*)```+\s*(\S*)(.*)$', line)
        if m:
            indent, info, rest = m.group(1), m.group(2), m.group(3).strip()
            start = i
            body = []
            i += 1
            while i < len(lines) and not re.match(r'^\s*```+\s*$', lines[i]):
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                errors.append(f'{doc}:{start + 1}: unterminated fence')
                break
            if info == 'sql' and not rest:
                if indent:
                    errors.append(f'{doc}:{start + 1}: an sql fence must start at column 1')
                prev = lines[start - 1] if start > 0 else ''
                d = DIRECTIVE.match(prev)
                item = {'kind': 'block', 'line': start + 1, 'text': '\n'.join(body), 'mode': 'run'}
                if d:
                    mode, args = d.group(1), d.group(2)
                    item['mode'] = mode
                    if mode == 'error':
                        if not re.fullmatch(r'[0-9A-Z]{5}', args):
                            errors.append(f'{doc}:{start}: doc-test: error needs one SQLSTATE, got "{args}"')
                        item['sqlstate'] = args
                    elif mode == 'stage':
                        parts = args.split()
                        if len(parts) != 2:
                            errors.append(f'{doc}:{start}: doc-test: stage needs a stage script and a block name')
                        else:
                            item['stage'], item['name'] = parts
                    elif mode == 'norun':
                        if len(args) < 10:
                            errors.append(f'{doc}:{start}: doc-test: norun needs a reason')
                        item['reason'] = args
                    else:
                        errors.append(f'{doc}:{start}: unknown doc-test kind "{mode}"')
                elif prev.lstrip().startswith('<!--') and 'doc-test' in prev:
                    errors.append(f'{doc}:{start}: malformed doc-test comment: {prev}')
                items.append(item)
            elif SQLISH.match(info) or SQLISH.match(info.lstrip('{.')):
                errors.append(f'{doc}:{start + 1}: fence "```{info}{(" " + rest) if rest else ""}": '
                              'SQL goes in a ```sql block (with a doc-test comment when docs.sh does not run it)')
            i += 1
            continue
        if line.startswith('<!--') and not DIRECTIVE.match(line):
            start = i
            text = line
            while '-->' not in text and i + 1 < len(lines):
                i += 1
                text += '\n' + lines[i]
            c = COMMENT_KIND.match(text)
            if c:
                body = text[c.start(2):]
                body = body[:body.rindex('-->')].strip()
                items.append({'kind': c.group(1), 'line': start + 1, 'text': body})
            elif re.match(r'^<!--\s*(check|wait|doc)', text):
                errors.append(f'{doc}:{start + 1}: malformed test comment: {text.splitlines()[0]}')
        i += 1
    # a doc-test comment must sit right before an sql fence
    for n, line in enumerate(lines):
        if DIRECTIVE.match(line) and not (n + 1 < len(lines) and lines[n + 1].startswith('```sql')):
            errors.append(f'{doc}:{n + 1}: a doc-test comment must be the line right before a ```sql fence')
    return items, errors


def psql_script(doc):
    items, errors = parse(doc)
    if errors:
        raise DocError('\n'.join(errors))
    out = []
    for it in items:
        where = f"{doc}:{it['line']}"
        if it['kind'] == 'block':
            if it['mode'] == 'run':
                out += [f"\\echo '#doc {where}'", it['text']]
            elif it['mode'] == 'error':
                out += [f"\\echo '#doc {where} (expects {it['sqlstate']})'",
                        '\\set ON_ERROR_STOP 0', it['text'], '\\set ON_ERROR_STOP 1',
                        f"SELECT :'SQLSTATE' = '{it['sqlstate']}' AS doc_check \\gset",
                        '\\if :doc_check', '\\else',
                        f"\\echo 'DOC CHECK FAILED {where}: expected SQLSTATE {it['sqlstate']}, got' :SQLSTATE",
                        "DO $doc$BEGIN RAISE EXCEPTION 'doc check failed'; END$doc$;", '\\endif']
        elif it['kind'] == 'check':
            expr = it['text']
            out += [f"\\echo '#check {where}'",
                    f"SELECT coalesce(({expr}), false) AS doc_check \\gset",
                    '\\if :doc_check', '\\else',
                    f"\\echo 'DOC CHECK FAILED {where}'",
                    "DO $doc$BEGIN RAISE EXCEPTION 'doc check failed'; END$doc$;", '\\endif']
        elif it['kind'] == 'wait-job':
            out += [f"\\echo '#wait {where}'",
                    f"SELECT pg_temp.doc_wait_job({it['text']}) AS doc_check \\gset",
                    '\\if :doc_check', '\\else',
                    f"\\echo 'DOC CHECK FAILED {where}: job did not end'",
                    "DO $doc$BEGIN RAISE EXCEPTION 'doc check failed'; END$doc$;", '\\endif']
    return '\n'.join(out) + '\n'


def roles(doc):
    items, _ = parse(doc)
    found = []
    for it in items:
        if it['kind'] == 'block' and it['mode'] in ('run', 'error'):
            for r in re.findall(r'CREATE\s+(?:ROLE|USER)\s+("?)([A-Za-z_][A-Za-z0-9_]*)\1', it['text'], re.I):
                if r[1] not in found:
                    found.append(r[1])
    return found


def block(doc, name):
    items, errors = parse(doc)
    for it in items:
        if it['kind'] == 'block' and it.get('name') == name:
            return it['text'] + '\n'
    raise DocError(f'{doc}: no block named {name}' + ('\n' + '\n'.join(errors) if errors else ''))


def slug(heading):
    s = heading.strip().lower()
    s = re.sub(r'[^\w\- ]', '', s)
    return s.replace(' ', '-')


def anchors(doc):
    seen, out = {}, set()
    in_fence = False
    with open(os.path.join(TOP, doc), encoding='utf-8') as f:
        for line in f:
            if re.match(r'^\s*```', line):
                in_fence = not in_fence
                continue
            m = None if in_fence else re.match(r'^#{1,6}\s+(.*?)\s*#*\s*$', line)
            if m:
                base = slug(m.group(1))
                n = seen.get(base, 0)
                seen[base] = n + 1
                out.add(base if n == 0 else f'{base}-{n}')
    return out


PATH_TOKEN = re.compile(r'`((?:extension|sql|expected|specs|test|tools|bench|docs)/[^`\s]*|'
                        r'(?:README|CHANGELOG)\.md|Makefile|bulkorder\.control)`')


def lint():
    errors, counts = [], []
    stage_refs = {}
    for s in glob.glob(os.path.join(TOP, 'test', 'stages', '*.sh')):
        with open(s, encoding='utf-8') as f:
            # literal calls only: doc_block DOC NAME (a name in a variable is not an account)
            for m in re.finditer(r'doc_block\s+([\w./-]+\.md)\s+([A-Za-z0-9_-]+)\b(?!\$)', f.read()):
                stage_refs.setdefault((m.group(1), m.group(2)), set()).add(os.path.relpath(s, TOP))
    named = set()
    for doc in documents():
        items, errs = parse(doc)
        errors += errs
        c = {'run': 0, 'error': 0, 'stage': 0, 'norun': 0, 'check': 0}
        for it in items:
            if it['kind'] != 'block':
                c['check'] += 1
                continue
            c[it['mode']] = c.get(it['mode'], 0) + 1
            if it['mode'] == 'stage' and 'name' in it:
                key = (doc, it['name'])
                if key in named:
                    errors.append(f"{doc}:{it['line']}: block name {it['name']} used twice")
                named.add(key)
                if not os.path.exists(os.path.join(TOP, it['stage'])):
                    errors.append(f"{doc}:{it['line']}: {it['stage']} does not exist")
                elif it['stage'] not in stage_refs.get(key, set()):
                    errors.append(f"{doc}:{it['line']}: {it['stage']} does not run it "
                                  f"(no `doc_block {doc} {it['name']}` there)")
        counts.append((doc, c))
        with open(os.path.join(TOP, doc), encoding='utf-8') as f:
            text = f.read()
        prose = re.sub(r'```.*?```', '', text, flags=re.S)
        # nothing points outside the repository
        for n, line in enumerate(text.split('\n'), 1):
            if re.search(r'SPEC\s*§|SPEC\.md|\.\./shared', line):
                errors.append(f'{doc}:{n}: points to a file that is not in the repository: {line.strip()[:80]}')
        for m in re.finditer(r'\]\(([^)\s]+)\)', prose):
            target = m.group(1)
            if re.match(r'^[a-z]+:', target):
                continue
            file_part, _, frag = target.partition('#')
            dest = os.path.normpath(os.path.join(os.path.dirname(doc), file_part)) if file_part else doc
            if not os.path.exists(os.path.join(TOP, dest)):
                errors.append(f'{doc}: link to {target}: {dest} does not exist')
            elif frag and dest.endswith('.md') and frag not in anchors(dest):
                errors.append(f'{doc}: link to {target}: no heading #{frag} in {dest}')
        for m in PATH_TOKEN.finditer(text):
            p = m.group(1).rstrip('.,:;')
            if re.search(r'[<>{}]|\.\.\.|…', p) or p.startswith('docs/api/'):
                continue
            if not glob.glob(os.path.join(TOP, p)):
                errors.append(f'{doc}: `{p}` is not in the repository')
    for (doc, name), stages in sorted(stage_refs.items()):
        if (doc, name) not in named:
            errors.append(f"{', '.join(sorted(stages))}: doc_block {doc} {name}: no such block")
    return errors, counts


def main(argv):
    cmd = argv[1] if len(argv) > 1 else 'lint'
    try:
        if cmd == 'script':
            sys.stdout.write(psql_script(argv[2]))
        elif cmd == 'roles':
            print('\n'.join(roles(argv[2])))
        elif cmd == 'block':
            sys.stdout.write(block(argv[2], argv[3]))
        elif cmd == 'documents':
            print('\n'.join(documents()))
        elif cmd in ('lint', 'account'):
            errors, counts = lint()
            total = {}
            for doc, c in counts:
                for k, v in c.items():
                    total[k] = total.get(k, 0) + v
                print(f"{doc}: {c['run'] + c['error']} run by docs.sh ({c['error']} expecting an error), "
                      f"{c['stage']} by other stages, {c['norun']} not run; {c['check']} checks")
            print(f"all documents: {sum(total.get(k, 0) for k in ('run', 'error', 'stage', 'norun'))} sql blocks: "
                  f"{total.get('run', 0) + total.get('error', 0)} run by docs.sh, {total.get('stage', 0)} by other "
                  f"stages, {total.get('norun', 0)} not run; {total.get('check', 0)} checks")
            if cmd == 'account':
                for doc in documents():
                    for it in parse(doc)[0]:
                        if it['kind'] == 'block':
                            how = {'run': 'docs.sh', 'error': f"docs.sh, fails {it.get('sqlstate')}",
                                   'stage': f"{it.get('stage')} ({it.get('name')})",
                                   'norun': f"not run: {it.get('reason')}"}[it['mode']]
                            print(f"  {doc}:{it['line']}: {how}")
            for e in errors:
                print('ERROR ' + e)
            return 1 if errors else 0
        else:
            print(__doc__)
            return 2
    except DocError as e:
        print(str(e), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
