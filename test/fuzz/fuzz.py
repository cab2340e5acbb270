#!/usr/bin/env python3
"""Generate a psql script of random, boundary and hostile calls to every
public function of the extension (test/stages/fuzz.sh runs it).

    fuzz.py METADATA.json SEED CALLS > script.sql

METADATA is bulkorder_fuzz.metadata() (test/fuzz/harness.sql): the
functions of schema bulkorder as pg_proc lists them, the catalogue, the
shop's keys and the settings.  So a function, an operation or a parameter
added later is fuzzed without editing this file.  Arguments are generated
per SQL type, and by name where a name says more (page, operation, targets,
params, options, content, job_id, upload_id, …).

The same metadata and seed give the same script, byte for byte: call N of a
run is call N of its replay.  Each call is followed by
bulkorder_fuzz.check(), the oracle.  Python's standard library only.
"""
import json
import os
import random
import sys


class Raw(str):
    """JSON text written as is (numbers Python cannot spell: 1e400, 1.0)."""


class Sql(str):
    """An SQL expression standing for a whole jsonb value."""


def jtext(v):
    """JSON text of a value (dict order kept)."""
    if isinstance(v, Raw):
        return str(v)
    if v is None:
        return 'null'
    if v is True:
        return 'true'
    if v is False:
        return 'false'
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return '[' + ', '.join(jtext(x) for x in v) + ']'
    if isinstance(v, dict):
        return '{' + ', '.join(json.dumps(k, ensure_ascii=False) + ': ' + jtext(x) for k, x in v.items()) + '}'
    raise TypeError(v)


def lit(s):
    """An SQL string literal for s; control characters and backslashes as
    E'' escapes, so the script has one statement per line and psql never
    sees a backslash outside a literal."""
    s = s.replace('\0', '')
    if any(c == '\\' or ord(c) < 32 or ord(c) == 127 for c in s):
        out = []
        for c in s:
            if c == '\\':
                out.append('\\\\')
            elif c == "'":
                out.append("\\'")
            elif c == '\n':
                out.append('\\n')
            elif c == '\r':
                out.append('\\r')
            elif c == '\t':
                out.append('\\t')
            elif ord(c) < 32 or ord(c) == 127:
                out.append('\\x%02x' % ord(c))
            else:
                out.append(c)
        return "E'" + ''.join(out) + "'"
    return "'" + s.replace("'", "''") + "'"


def bytea(b):
    return "'\\x" + b.hex() + "'::bytea"


HOSTILE_TEXT = [
    '', ' ', "'", "''", '\\', '\\\\', '$$', '$x$', '$1', "'; DROP TABLE bulkorder.orders; --",
    '"; DROP SCHEMA bulkorder CASCADE; --', "x' OR '1'='1", '%s%s%s%n', '%I', '%L', 'NULL', 'null',
    '{}', '[]', '{"a": 1}', '1; SELECT pg_sleep(30)', '\u3000', '\u3000\u3000', '\u00a0', '\ufeff', '\u202e',
    'お' * 100, 'お' * 201, 'x' * 200, 'x' * 201, 'x' * 4000, 'x' * 4001, 'y' * 50, 'y' * 51, '😀' * 60,
    'a\nb', 'a\r\nb', 'a\tb', '\\.', '\n\\.\n', "Robert'); DROP TABLE customers;--", '../../etc/passwd',
    'ｱｲｳｴｵ', '①②③', '𠮷野家', '{{order_no}}', '{{customer_name}}' * 50, 'ORDERS', 'orders ', ' orders',
    'pg_catalog.pg_authid', 'bulkorder.orders', 'cancel; --', 'Ünïcödé', '\x7f', 'E\'\\x00\'',
    '\u0000', '\ud7ff', '\U0010ffff',
]

VALID_DATES = ['2026-12-15', '2027-01-31', '2026-12-01', '2028-02-29', '2027-06-30', '2026-12-31']
HOSTILE_DATES = [
    'infinity', '-infinity', '5874897-12-31', '4713-01-01 BC', '4714-11-24 BC', 'epoch', 'today', 'now',
    'tomorrow', 'yesterday', '2020-02-30', '01/02/2030', '03/02/2030', '2030-13-01', '', 'allballs',
    '1899-12-31', '1900-01-01', '2199-12-31', '2200-01-01', '294276-12-31', '0001-01-01', '2026-12-01 12:00',
    'J2451545', '20261215', ' 2026-12-15 ', '２０２６－１２－１５', 'NaN', '2026-12-15T00:00:00Z', '1e5',
]
TAGS = ['年末セール', 'vip', 'x', 'お急ぎ', 'ギフト', 'a b', 'TAG', 'tag', '要確認', 'NG']
OPERATORS = ['tanaka', '佐藤', 'ops-bot', 'お' * 100, 'お' * 101, 'x' * 200, 'x' * 201, '', ' ', "o'brien"]
SOURCES = ['api', 'checkbox', 'csv', 'pg_cron', 'admin', '', 'API']
ENCODINGS = ['SJIS', 'Shift_JIS', 'CP932', 'Windows-31J', 'UTF8', 'UTF-8', 'utf8', 'sjis', 'EUC_JP', 'LATIN1',
             'UTF-16', 'SQL_ASCII', 'BIG5', 'GB18030', 'MULE_INTERNAL', '', 'x' * 100]
WRONG_JSON = [
    '1', 1, 0, -1, 1.0, Raw('1.0'), 1.5, Raw('-0'), Raw('1e2'), Raw('1E+2'), Raw('1e400'), Raw('-1e-400'),
    True, False, [], {}, [1], {'a': 1}, '', 'true', 't', 'yes', 2147483647, 2147483648, -2147483648,
    -2147483649, 9223372036854775807, 9223372036854775808, -9223372036854775809, Raw('1' * 400), '2026-12-15',
    'NaN', 'Infinity', [None], None,
]


def raw_records(text):
    """The records of a CSV text, each a list of its fields exactly as
    written (quotes kept): the cells to put into the fuzz's own files."""
    rec, field, quoted = [], [], False
    for ch in text:
        if ch == '"':
            quoted = not quoted
            field.append(ch)
        elif ch == ',' and not quoted:
            rec.append(''.join(field))
            field = []
        elif ch == '\n' and not quoted:
            rec.append(''.join(field))
            yield rec
            rec, field = [], []
        else:
            field.append(ch)
    if field or rec:
        rec.append(''.join(field))
        yield rec


def fixture_cells(name, column, skip):
    """Column `column` of a fixture sheet (its UTF-8, LF file), as written."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'csv', name + '_utf8_lf.csv')
    with open(path, encoding='utf-8') as f:
        records = list(raw_records(f.read()))[skip:]
    return [r[column] for r in records if len(r) > column]


# The spreadsheet's cells of the tracking number fixtures
# (make_fixtures.sh, issue 24): every case of column B of the import (formula
# text, currency and negative formats, fractions, rounded and lost digits,
# invisible characters, dash look-alikes, the carriers' formats), and of
# column A (its causes, invisible characters, other separators).
SHEET_TRACKING_CELLS = fixture_cells('sheet_tracking', 1, 2)
SHEET_KEY_CELLS = fixture_cells('sheet_key_causes', 0, 1)


class Gen:
    def __init__(self, meta, seed):
        self.m = meta
        self.r = random.Random(seed)
        self.seed = seed
        self.ops = {(o['page'], o['operation']): o for o in meta['operations']}
        self.by_wrapper = {o['wrapper']: o for o in meta['operations']}
        self.pages = meta['pages']
        self.keys = meta['keys']
        self.slots = {}
        for dm, code in meta['time_slots'] or []:
            self.slots.setdefault(dm, []).append(code)
        self.role = 'op'            # 'op' (the operator) or 'su' (the superuser)
        self.uploads = 3            # a guess at the highest upload id so far
        self.jobs = 3               # … and job id
        # a SET bulkorder.chunk_size below 100 may be in force: no big jobs
        # then (100,000 one-target chunks would take minutes, by design)
        self.small_chunks = False
        # a clean call: every argument valid, so that calls get past the
        # checks into the engine, the worker and the effects
        self.clean = False
        # set when a run_bulk/preview_bulk call got an argument that may
        # fail its own cast, before the call (then a 22P02 proves nothing)
        self.untyped = False

    # ---- small helpers
    def p(self, x):
        return self.r.random() < x

    def pick(self, xs):
        return self.r.choice(xs)

    def hostile_text(self):
        if self.p(0.1):
            return Sql("repeat(%s, %d)" % (lit(self.pick(['x', 'お', "'", '\\', ','])), self.pick([4001, 10000, 1000000])))
        return self.pick(HOSTILE_TEXT)

    def page_keys(self, page):
        if page in ('orders', 'shipments'):
            return self.keys['orders'] or [1]
        if page == 'subscriptions':
            return self.keys['subscriptions'] or [1]
        if page == 'customers':
            return self.keys['customers'] or [1]
        return self.keys['orders'] or [1]

    def text_expr(self, s):
        return s if isinstance(s, Sql) else lit(s)

    # ---- pages and operations
    def page(self):
        if self.clean or self.p(0.88):
            return self.pick(self.pages)
        return self.pick(['', 'ORDERS', 'orders ', 'order', 'unknown', "orders'; --", 'pg_class', None,
                          '注文一覧', 'customers\u0000', 'x' * 1000])

    def operation(self, page):
        ops = [o for (pg, o) in self.ops if pg == page]
        if ops and (self.clean or self.p(0.85)):
            return self.pick(ops)
        if self.p(0.5):
            return self.pick([o for (_, o) in self.ops])
        return self.pick(['', 'CANCEL', 'cancel ', 'unknown_op', "cancel'; --", None, 'import_shipments',
                          'x' * 1000, '注文'])

    # ---- targets
    def targets(self, page):
        keys = self.page_keys(page)
        r = self.r.random() * (0.4 if self.clean else 1)
        if r < 0.40:
            n = self.r.randint(1, 30)
            ks = self.r.sample(keys, min(n, len(keys)))
            if self.p(0.3):
                ks.append(self.r.randint(1, 10 ** 9))
            return 'ARRAY[%s]::bigint[]' % ', '.join(map(str, ks))
        if r < 0.48:
            return 'ARRAY(SELECT generate_series(%d, %d))::bigint' % (min(keys), max(keys)) + '[]'
        if r < 0.53:
            return "'{}'::bigint[]"
        if r < 0.57:
            return 'NULL::bigint[]'
        if r < 0.61:
            ks = self.r.sample(keys, min(3, len(keys)))
            ks.insert(self.r.randint(0, len(ks)), 'NULL')
            return 'ARRAY[%s]::bigint[]' % ', '.join(map(str, ks))
        if r < 0.66:
            k = self.pick(keys)
            return 'ARRAY[%d, %d, %d, %d]::bigint[]' % (k, k, self.pick(keys), k)
        if r < 0.70:
            return 'ARRAY[%s]::bigint[]' % ', '.join(self.r.sample(
                ['0', '-1', '9223372036854775807', '-9223372036854775808', '2147483648', str(max(keys) + 1)], 3))
        if r < 0.73:
            a, b, c, d = (self.pick(keys) for _ in range(4))
            return "'{{%d,%d},{%d,%d}}'::bigint[]" % (a, b, c, d)
        if r < 0.75:
            return "'[5:7]={%d,%d,%d}'::bigint[]" % tuple(self.pick(keys) for _ in range(3))
        if r < 0.783 and self.small_chunks:
            return 'ARRAY(SELECT generate_series(1, 50))::bigint[]'
        if r < 0.78:
            return 'ARRAY(SELECT generate_series(1, 5000))::bigint[]'
        if r < 0.783:
            return 'ARRAY(SELECT generate_series(%d, %d))::bigint[]' % (min(keys), min(keys) + 99999)
        if r < 0.80:
            self.untyped = True
            return self.pick(["ARRAY['x']", "'{1.5}'::numeric[]", "'{1}'::int[]", "'{}'", "'{100001}'"])
        if r < 0.85:
            other = self.pick(self.pages)
            return 'ARRAY[%s]::bigint[]' % ', '.join(map(str, self.r.sample(self.page_keys(other), 3)))
        return 'ARRAY[%s]::bigint[]' % ', '.join(str(self.r.randint(-5, 10 ** 6)) for _ in range(self.r.randint(1, 8)))

    # ---- params of an operation
    def valid_param(self, name, spec, params):
        t = spec.get('type')
        if 'enum' in spec and (self.clean or self.p(0.9)):
            return self.pick(spec['enum'])
        if t == 'boolean':
            return self.p(0.5)
        if t in ('integer', 'bigint'):
            if name == 'upload_id':
                return self.r.randint(1, self.uploads + 1)
            if 'product' in name:
                return self.pick(self.m['products'] or [1])
            if 'frequency' in name:
                return self.pick(self.m['frequencies'] or [1])
            lo, hi = spec.get('min', -100), spec.get('max', 100)
            if name == 'delta':
                return self.pick([1, -1, 5, -5, 100, -1000, 2147483647, -2147483647])
            return self.r.randint(lo, hi)
        if t == 'date':
            return self.pick(VALID_DATES) if self.clean or self.p(0.75) else self.pick(HOSTILE_DATES)
        if t == 'text[]':
            return self.r.sample(TAGS, self.r.randint(0, 3))
        if t == 'text':
            if name == 'delivery_method':
                return self.pick(self.m['delivery_methods'] or ['x'])
            if name == 'time_slot':
                dm = params.get('delivery_method')
                if isinstance(dm, str) and dm in self.slots and self.p(0.7):
                    return self.pick(self.slots[dm])
                return None if self.p(0.5) else self.pick(sum(self.slots.values(), []) or ['x'])
            if name == 'rank':
                return self.pick((self.m['ranks'] or []) + [None])
            if name == 'payment_method':
                return self.pick(self.m['payment_methods'] or ['cod'])
            if self.clean or self.p(0.7):
                return self.pick(['お届け日を変更しました', 'note', '再送', 'テスト\n2行目', 'x' * 100])
            return self.hostile_text()
        return self.pick(WRONG_JSON)

    def wrong_param(self, name, spec):
        t = spec.get('type')
        r = self.r.random()
        if t == 'text[]' and r < 0.5:
            return self.pick([[''], [' '], ['\u3000'], [None], ['dup', 'dup'], ['y' * 51], ['x'] * 1000,
                              [['nested']], 'notalist', [1], ['a', 1], Sql("(SELECT jsonb_agg(g::text) FROM generate_series(1, 100000) g)")])
        if t == 'date' and r < 0.6:
            return self.pick(HOSTILE_DATES)
        if t in ('integer', 'bigint') and r < 0.5:
            lo, hi = spec.get('min'), spec.get('max')
            return self.pick([x for x in (lo - 1 if lo is not None else None, hi + 1 if hi is not None else None) if x is not None]
                             + [0, Raw('1.0'), 1.0, 1.5, '1', Raw('1e2'), 2147483648, -2147483649, 9223372036854775808, Raw('1e400')])
        if r < 0.8:
            return self.pick(WRONG_JSON)
        return self.hostile_text()

    def params(self, page, op):
        o = self.ops.get((page, op))
        spec = o['params'] if o else {}
        if not self.clean and self.p(0.05):
            self.untyped = True
            return self.pick(['NULL::jsonb', "'null'::jsonb", "'[]'::jsonb", "'\"x\"'::jsonb", "'1'::jsonb",
                              "'{}'::jsonb",
                              "(repeat('[', 5000) || repeat(']', 5000))::jsonb",
                              "(repeat('{\"a\": ', 3000) || '1' || repeat('}', 3000))::jsonb",
                              "(SELECT jsonb_object_agg('k' || g, g) FROM generate_series(1, 50000) g)",
                              "'{\"a\": 1, \"a\": 2}'::jsonb"])
        d = {}
        for name, s in spec.items():
            if 'default' in s and self.p(0.3):
                continue
            d[name] = self.valid_param(name, s, d)
        # the same whole number spelled otherwise: 5.0, 5e0, 50E-1, "5"
        for name in d:
            if spec[name].get('type') in ('integer', 'bigint') and type(d[name]) is int and self.p(0.15):
                v = d[name]
                d[name] = self.pick([Raw('%d.0' % v), Raw('%de0' % v), Raw('%d0E-1' % v), str(v)])
        if not self.clean and self.p(0.5):
            for _ in range(self.r.randint(1, 2)):
                r = self.r.random()
                names = list(spec)
                if r < 0.15 and d:
                    del d[self.pick(list(d))]
                elif r < 0.3:
                    d[self.pick(['foo', 'Void_Payment', '', ' add', 'add ', 'async', 'operator', 'ADD', 'p', 'x' * 100])] = self.pick(WRONG_JSON[:12])
                elif r < 0.45 and names:
                    d[self.pick(names)] = None
                elif names:
                    n = self.pick(names)
                    d[n] = self.wrong_param(n, spec[n])
        return self.jsonb(d)

    def jsonb(self, d):
        sqls = {k: v for k, v in d.items() if isinstance(v, Sql)}
        if sqls:
            self.untyped = True
        plain = {k: v for k, v in d.items() if not isinstance(v, Sql)}
        expr = lit(jtext(plain)) + '::jsonb'
        for k, v in sqls.items():
            if v.startswith('repeat('):
                expr = '(%s || jsonb_build_object(%s, %s))' % (expr, lit(k), v)
            else:
                expr = '(%s || jsonb_build_object(%s, %s))' % (expr, lit(k), v)
        return expr

    # ---- options (run_bulk, uploads, cancel_job, …)
    def options(self, fn):
        if not self.clean and self.p(0.05):
            self.untyped = True
            return self.pick(['NULL::jsonb', "'null'::jsonb", "'[]'::jsonb", "'\"async\"'::jsonb", "'true'::jsonb"])
        d = {}
        if fn in ('run_bulk', 'import_shipments', 'retry_failed', 'revert_job') and self.p(0.25 if self.clean else 0.1):
            d['async'] = True
        elif not self.clean and self.p(0.1):
            d['async'] = self.pick([False, True, 'true', 1, None, 'yes'])
        if self.p(0.4):
            d['operator'] = self.pick(OPERATORS[:4]) if self.clean else self.pick(OPERATORS) if self.p(0.8) else self.hostile_text()
        if self.p(0.3):
            d['source'] = self.pick(SOURCES[:4]) if self.clean else self.pick(SOURCES) if self.p(0.8) else self.hostile_text()
        if not self.clean and self.p(0.15):
            d['request_key'] = self.pick(['k1', 'k2', 'k3', 'screen-42-click', 'hold-ng-2026-01-02 02:00']) if self.p(0.8) \
                else self.pick(['', ' ', 'x' * 1000, 1, None, "k'; --"])
        # the shop: the calls' own (the session's too), or a wrong one; never
        # the other shop of the database, which no call may reach
        if self.p(0.15):
            d['shop'] = 'default' if self.clean or self.p(0.6) else \
                self.pick(['', 'nosuch', 'Default', 'de fault', 'x' * 64, 7, None, ['default']])
        if fn in ('upload_csv', 'import_shipments') or self.p(0.05):
            if self.p(0.5):
                d['encoding'] = self.pick(ENCODINGS[:4]) if self.clean or self.p(0.7) else self.pick(ENCODINGS)
        if not self.clean and self.p(0.1):
            d[self.pick(['asyncc', 'Async', 'foo', '', 'chunk_size', 'language', 'encodingx'])] = self.pick(WRONG_JSON[:14])
        return self.jsonb(d)

    # ---- CSV files
    def csv_text(self, page, import_):
        keys = self.page_keys(page if not import_ else 'orders')
        eol = self.pick(['\r\n', '\n', '\r'])
        lines = []
        if self.p(0.5):
            lines.append(self.pick(['注文番号,お客様名', '注文番号,送り状番号', 'order_no', '顧客ID,氏名', 'コース注文番号',
                                    '"注文番号","備考"', 'A,B,C']))
        for _ in range(self.r.randint(0, 40)):
            r = self.r.random()
            k = self.pick(keys)
            if r < 0.6:
                a = str(k)
            elif r < 0.65:
                a = str(k).translate(str.maketrans('0123456789', '０１２３４５６７８９'))
            elif r < 0.7:
                a = self.pick([' ', '\u3000', '\t', '\u00a0']) + str(k) + self.pick([' ', '\u3000', ''])
            elif r < 0.75:
                a = '"%d"' % k
            elif r < 0.8:
                a = self.pick(['abc', '10.5', '-3', '1 001', '', '99999999999999999999', '0', '1e3', '0x10', '+5', '٣']
                              + SHEET_KEY_CELLS)
            elif r < 0.85:
                a = str(self.r.randint(1, 10 ** 7))
            elif r < 0.9:
                lines.append(self.pick(['', ',,,', ' ']))
                continue
            else:
                a = '"%d\n",x' % k if self.p(0.5) else '"a,""b"""'
            rest = ''
            if import_:
                r2 = self.r.random()
                if r2 < 0.4:
                    rest = ',' + self.pick(SHEET_TRACKING_CELLS)
                elif r2 < 0.7:
                    # a real jp12 number (the demo's carriers issue them),
                    # written as the sheets write it
                    d = '%011d' % self.r.randint(0, 10 ** 11 - 1)
                    t = d + str(int(d) % 7)
                    rest = ',' + self.pick([t, t[:4] + '-' + t[4:8] + '-' + t[8:], '="%s"' % t, "'" + t])
                else:
                    rest = ',' + self.pick(['1234-5678-9012', '', 'x' * 101, '"12,34"', '１２３４',
                                            str(self.r.randint(1, 10 ** 12))])
            elif self.p(0.3):
                rest = ',' + self.pick(['山田 太郎', '"a,b"', '', 'x' * 300])
            lines.append(a + rest)
        return eol.join(lines) + (eol if self.p(0.7) else '')

    def csv(self, page, import_, encoding):
        r = self.r.random() * (0.55 if self.clean else 1)
        if r < 0.55:
            text = self.csv_text(page, import_)
            enc = 'cp932' if encoding in ('SJIS', 'Shift_JIS', 'CP932', 'Windows-31J') and self.p(0.9) else 'utf-8'
            b = text.encode(enc, errors='replace')
            if enc == 'utf-8' and self.p(0.2):
                b = b'\xef\xbb\xbf' + b
            return bytea(b)
        if r < 0.7:
            b = bytearray(self.csv_text(page, import_).encode('utf-8'))
            for _ in range(self.r.randint(1, 3)):
                pos = self.r.randint(0, len(b))
                b[pos:pos] = self.pick([b'\xff', b'\x00', b'\x81', b'\xe3\x81', b'\xc0\xaf', b'\xed\xa0\x80',
                                        b'\x82\xa0', b'\xfe\xff', b'\\.\n', b'"'])
            if self.p(0.2):
                b = b'\xff\xfe' + self.csv_text(page, import_).encode('utf-16-le')
            return bytea(bytes(b))
        if r < 0.72 or (self.small_chunks and import_):
            return bytea(bytes(self.r.getrandbits(8) for _ in range(self.r.randint(1, 300))))
        big = self.pick([
            "convert_to(repeat(',', %d) || 'x', 'UTF8')" % self.pick([10000, 1000000, 3000000]),
            "convert_to(repeat('1', %d), 'UTF8')" % self.pick([100, 100000, 2000000]),
            "(SELECT convert_to(string_agg(g::text, E'\\n'), 'UTF8') FROM generate_series(%d, %d) g)"
            % (min(self.page_keys(page)), min(self.page_keys(page)) + self.pick([100, 20000, 100000])),
            "(SELECT convert_to(string_agg(g::text || ',' || g, E'\\r\\n'), 'UTF8') FROM generate_series(1, 50000) g)",
            "(SELECT convert_to(string_agg('\"' || g || '\"', ','), 'UTF8') FROM generate_series(1, 100000) g)",
            "convert_to(E'100001\\n\\\\.\\n100002\\n', 'UTF8')",
            "convert_to(E'100001\\n\\\\.', 'UTF8')",
            "convert_to(E'100001\\n\"100002\\n', 'UTF8')",
            "convert_to(E'100001\\r\\n100002\\n100003', 'UTF8')",
            "convert_to(repeat(E'\"', 100001), 'UTF8')",
            "''::bytea", 'NULL::bytea', "'\\xefbbbf'::bytea", "'\\x0a0a0a0d0d'::bytea", "'\\x00'::bytea",
            "convert_to(repeat(E'\\n', 100000), 'UTF8')",
            "convert_to(E'\\u6ce8\\u6587\\u756a\\u53f7\\n100001', 'SJIS')",
            "convert_to(E'100001,\\u2460\\n', 'EUC_JP')",
        ])
        return big

    # ---- arguments by SQL type, and by name where it says more
    def arg(self, fn, name, typ, ctx):
        n = name.lower()
        if not self.clean and self.p(0.04):
            return 'NULL::' + typ
        if n in ('page', 'p_page'):
            v = self.page()
            ctx['page'] = v
            return 'NULL::text' if v is None else lit(v)
        if n in ('operation', 'p_operation'):
            v = self.operation(ctx.get('page') or 'orders')
            ctx['operation'] = v
            return 'NULL::text' if v is None else lit(v)
        if typ == 'bigint[]' and n in ('targets', 'order_nos', 'customer_ids', 'course_order_nos', 'keys'):
            pg = ctx.get('page')
            if not isinstance(pg, str) or pg not in self.pages:
                pg = {'customer_ids': 'customers', 'course_order_nos': 'subscriptions'}.get(n, 'orders')
            return self.targets(pg)
        if typ == 'jsonb' and n == 'params':
            return self.params(ctx.get('page'), ctx.get('operation'))
        if typ == 'jsonb' and n == 'options':
            return ctx.get('options') or self.options(fn)
        if typ == 'bytea':
            o = ctx.get('options', '')
            enc = 'SJIS' if any(e in o for e in ('SJIS', 'Shift_JIS', 'CP932', 'Windows-31J')) else 'UTF8'
            return self.csv(ctx.get('page') if isinstance(ctx.get('page'), str) else 'orders',
                            fn == 'import_shipments', enc)
        if 'job' in n and typ in ('bigint', 'integer'):
            return str(self.pick([self.r.randint(1, self.jobs + 1)] * 6 + [0, -1, 9223372036854775807, self.jobs + 1000]))
        if 'upload' in n and typ in ('bigint', 'integer'):
            return str(self.pick([self.r.randint(1, self.uploads + 1)] * 6 + [0, -1, 9223372036854775807]))
        if n == 'notification_ids':
            return 'ARRAY[%s]::bigint[]' % ', '.join(str(self.r.randint(-1, self.jobs * 2 + 5)) for _ in range(self.r.randint(0, 5))) \
                if self.p(0.8) else self.pick(["'{}'::bigint[]", "ARRAY[NULL]::bigint[]", "'{{1,2},{3,4}}'::bigint[]",
                                               "ARRAY(SELECT generate_series(1, 100000))::bigint[]"])
        if n == 'request_id':
            return str(self.pick([self.r.randint(1, 40)] * 5 + [0, -1, 9223372036854775807]))
        if typ == 'name' or 'role' in n:
            return lit(self.pick(['bulkorder_fuzz_op', 'bulkorder_fuzz_other', 'no_such_role', '', 'x' * 100,
                                  'Robert"); DROP TABLE x; --', 'pg_read_server_files']) ) + '::name'
        if typ == 'jsonb':
            if self.p(0.5):
                return self.options(fn)
            pg = self.pick(self.pages)
            return self.params(pg, self.operation(pg))
        if typ == 'interval':
            return self.pick(["'30 days'", "'0'", "'-1 day'", "'1 second'", "'1000000 years'", "'-178000000 years'",
                              "'P1D'", "'1 mon -30 days'", "'infinity'", "''", "'100 years'"]) + '::interval'
        if typ == 'date':
            return lit(self.pick(VALID_DATES) if self.p(0.6) else self.pick(HOSTILE_DATES)) + '::date'
        if typ == 'boolean':
            return self.pick(['true', 'false', "'t'::boolean", 'NULL::boolean'])
        if typ in ('bigint', 'integer', 'smallint'):
            if 'product' in n:
                return str(self.pick(self.m['products'] or [1]))
            if 'frequency' in n:
                return str(self.pick(self.m['frequencies'] or [1]))
            if n in ('order_no',):
                return str(self.pick(self.keys['orders'] or [1]))
            v = self.pick([0, 1, -1, 5, 31, 32, 12, 2147483647, -2147483648, 100001, self.r.randint(-100, 100)])
            if typ == 'bigint':
                v = self.pick([v, 9223372036854775807, -9223372036854775808])
            return '%d::%s' % (v, typ) if v >= 0 else '(%d)::%s' % (v, typ)
        if typ == 'text[]':
            if self.p(0.7):
                return 'ARRAY[%s]::text[]' % ', '.join(lit(t) for t in self.r.sample(TAGS, self.r.randint(0, 3)))
            return self.pick(["'{}'::text[]", 'ARRAY[NULL]::text[]', "ARRAY['']::text[]", "'{{a,b},{c,d}}'::text[]",
                              "ARRAY(SELECT 't' || g FROM generate_series(1, 10000) g)"])
        if typ == 'text':
            if n == 'kind':
                return lit(self.pick(['days', 'weeks', 'months', 'day_of_month', 'years', '']))
            if n == 'mode':
                return lit(self.pick(['append', 'overwrite', 'APPEND', '']))
            if 'method' in n:
                return lit(self.pick((self.m['payment_methods'] or []) + (self.m['delivery_methods'] or []) + ['x']))
            if n in ('action',):
                return lit(self.pick(['blacklist', 'candidate', 'remove', 'x']))
            v = self.pick(['note', 'tanaka', 'OK', 'NG999', 'NPの与信がNGになりました。NG999。', '年末セール']) if self.p(0.5) \
                else self.hostile_text()
            return self.text_expr(v)
        if typ in ('numeric', 'double precision', 'real'):
            return self.pick(['1', '1.5', "'NaN'::numeric", "'Infinity'::float8", '-0.0', '1e300'])
        if typ in ('timestamp with time zone', 'timestamp without time zone'):
            return lit(self.pick(['2026-12-01 10:00', 'infinity', '-infinity', 'epoch', 'now'])) + '::' + typ
        # a type this file does not know: NULL, which every type has
        return 'NULL::' + typ

    # ---- one call
    def func_call(self):
        fns = self.m['functions']
        # the engine's entry points get more calls than the pure helpers
        weights = []
        for f in fns:
            w = 1.0
            if f['name'] in ('run_bulk', 'preview_bulk'):
                w = 14
            elif f['name'] in ('upload_csv', 'import_shipments'):
                w = 6
            elif f['name'] in ('cancel_job', 'upload_targets', 'upload_errors', 'generate_subscription_orders'):
                w = 3
            elif f['name'].startswith('bulk_'):
                w = 0.6
            elif f['rettype'] == 'trigger':
                w = 0.1
            if not f['operator_may_call'] and self.role == 'op':
                w *= 0.2
            weights.append(w)
        f = self.r.choices(fns, weights)[0]
        self.clean = self.p(0.35)
        self.untyped = False
        ctx = {}
        wrapper = self.by_wrapper.get(f['name'])
        if wrapper:
            ctx['page'], ctx['operation'] = wrapper['page'], wrapper['operation']
        if any(a['name'] == 'options' and a['type'] == 'jsonb' for a in f['args']):
            ctx['options'] = self.options(f['name'])     # first: an upload's encoding shapes its file
        args = []
        named = self.p(0.15)
        for a in f['args']:
            if wrapper and a['name'] in wrapper['params'] and self.p(0.85):
                spec = wrapper['params'][a['name']]
                v = self.valid_param(a['name'], spec, {}) if self.clean or self.p(0.7) else self.wrong_param(a['name'], spec)
                expr = self.scalar_of_json(v, a['type'])
            else:
                expr = self.arg(f['name'], a['name'], a['type'], ctx)
            args.append((a['name'], expr))
        ndef = f['ndefaults']
        if ndef and self.p(0.4):
            args = args[:len(args) - self.r.randint(1, ndef)]
        if not self.clean and self.p(0.02) and args:
            args = args[:-1]                       # too few: no such function
        if not self.clean and self.p(0.01):
            args.append(('extra', '1'))           # too many
        if named and all(n for n, _ in args):
            if self.p(0.3):
                self.r.shuffle(args)
            argtext = ', '.join('%s => %s' % (n, e) for n, e in args)
        else:
            argtext = ', '.join(e for _, e in args)
        call = 'bulkorder.%s(%s)' % (f['name'], argtext)
        if f['retset'] or f['rettype'] not in ('bigint', 'integer', 'boolean', 'text', 'void', 'date', 'bigint[]', 'text[]', 'trigger'):
            sql = 'SELECT * FROM %s' % call
        else:
            sql = 'SELECT %s' % call
        self.clean = False
        self.typed = f['name'] in ('run_bulk', 'preview_bulk') and not self.untyped
        if f['name'] == 'upload_csv' or f['name'] == 'import_shipments':
            self.uploads += 1
        if f['name'] in ('run_bulk', 'import_shipments') or wrapper:
            self.jobs += 1
        return sql

    def scalar_of_json(self, v, typ):
        """A wrapper's argument from a catalogue-typed value."""
        if isinstance(v, Sql):
            return 'NULL::' + typ if typ != 'text' else v
        if v is None:
            return 'NULL::' + typ
        if typ == 'text[]':
            if isinstance(v, list):
                return 'ARRAY[%s]::text[]' % ', '.join('NULL' if x is None else lit(jtext(x) if not isinstance(x, str) else x) for x in v) \
                    if v else "'{}'::text[]"
            return lit(str(v)) + '::text[]'
        if isinstance(v, bool):
            return 'true' if v else 'false'
        if isinstance(v, (int, float, Raw)) and typ in ('integer', 'bigint', 'smallint', 'numeric'):
            return '(%s)::%s' % (v, typ) if typ != 'integer' or not isinstance(v, Raw) else '%s' % lit(str(v)) + '::integer'
        if isinstance(v, (list, dict)):
            return lit(jtext(v)) + '::' + typ
        return lit(str(v)) + '::' + typ

    def setting(self):
        names = [s['name'] for s in self.m['settings'] or []]
        r = self.r.random()
        if r < 0.6 and names:
            s = self.pick(self.m['settings'])
            if s['vartype'] == 'enum':
                v = self.pick((s['enumvals'] or []) + ['xx', '', 'EN'])
            elif s['vartype'] in ('integer', 'real'):
                v = self.pick([s['min'], s['max'], '0', '-1', '1', '2', '100', '10000', '2147483648', 'abc'])
            elif s['vartype'] == 'bool':
                v = self.pick(['on', 'off', 'maybe'])
            else:
                v = self.pick(['', 'x', '1'])
            if self.p(0.15):
                if s['name'] == 'bulkorder.chunk_size':
                    self.small_chunks = False
                return 'RESET %s' % s['name']
            if s['name'] == 'bulkorder.chunk_size':
                try:
                    self.small_chunks = self.small_chunks or int(v) < 100
                except ValueError:
                    pass
            return 'SET %s = %s' % (s['name'], lit(str(v)))
        return self.pick([
            "SET DateStyle = 'ISO, DMY'", "SET DateStyle = 'SQL, DMY'", "SET DateStyle = 'German'",
            "SET DateStyle = 'Postgres, YMD'", 'RESET DateStyle', "SET TimeZone = 'Asia/Tokyo'",
            "SET TimeZone = 'Pacific/Kiritimati'", "SET TimeZone = 'America/St_Johns'", 'RESET TimeZone',
            "SET IntervalStyle = 'iso_8601'", "SET IntervalStyle = 'sql_standard'", 'RESET IntervalStyle',
            "SET search_path = pg_temp, bulkorder, pg_catalog", "SET search_path = bulkorder", 'RESET search_path',
            "SET work_mem = '64kB'", 'RESET work_mem', "SET extra_float_digits = -15", 'RESET extra_float_digits',
            'CREATE TEMP TABLE IF NOT EXISTS orders (order_no bigint, status text)',
            'CREATE TEMP TABLE IF NOT EXISTS bulk_jobs (job_id bigint)',
            'CREATE TEMP TABLE IF NOT EXISTS pages (page text)',
            'CREATE TEMP TABLE IF NOT EXISTS upload_lines (upload_id bigint)',
            "SET lc_messages = 'C'",
        ])

    def statement(self):
        if self.p(0.06):
            self.typed = False
            return self.setting()
        return self.func_call()

    # ---- the script
    def block(self, c):
        """One numbered call: its statements, the captured SQLSTATEs, the check."""
        out = ['-- call %d as %s' % (c, 'operator' if self.role == 'op' else 'superuser'), '\\set c %d' % c]
        r = self.r.random()
        stmts = []
        rolled_back = 'false'
        self.typed = False
        if r < 0.82:
            stmts = [self.statement()]
            body = None
        elif r < 0.88:
            body = 'rollback'
            stmts = [self.func_call()]
            rolled_back = 'true'
        elif r < 0.91:
            body = 'savepoint'
            stmts = [self.func_call()]
            rolled_back = 'true'
        elif r < 0.96:
            # the same arguments to preview_bulk and run_bulk, rolled back
            body = 'preview_run'
            self.clean = self.p(0.5)
            self.untyped = False
            pg = self.page()
            ctx = {'page': pg}
            op = self.operation(pg if isinstance(pg, str) else 'orders')
            args = ', '.join(['NULL::text' if pg is None else lit(pg), 'NULL::text' if op is None else lit(op),
                              self.targets(pg if pg in self.pages else 'orders'), self.params(pg, op)])
            self.clean = False
            stmts = ['SELECT count(*) FROM bulkorder.preview_bulk(%s)' % args, 'SELECT bulkorder.run_bulk(%s)' % args]
            self.typed = not self.untyped
            rolled_back = 'true'
            self.jobs += 1
        elif r < 0.985:
            body = 'commit2'
            stmts = [self.func_call(), self.func_call()]
            self.typed = False
        else:
            body = 'commit_sleep'
            stmts = [self.func_call(), 'SELECT pg_sleep(0.3)']
            self.typed = False
        if body in ('rollback', 'commit2', 'commit_sleep', 'preview_run'):
            out.append('BEGIN;')
        elif body == 'savepoint':
            out += ['BEGIN;', 'SAVEPOINT fuzz;']
        for i, s in enumerate(stmts, 1):
            out.append(s + ';')
            out.append('\\set st%d :SQLSTATE' % i)
            out.append('\\set em%d :LAST_ERROR_MESSAGE' % i)
        if body in ('rollback', 'preview_run'):
            out.append('ROLLBACK;')
        elif body == 'savepoint':
            out += ['ROLLBACK TO SAVEPOINT fuzz;', 'COMMIT;']
        elif body in ('commit2', 'commit_sleep'):
            out.append('COMMIT;')
        n = len(stmts)
        out.append("SELECT bulkorder_fuzz.check(:c, ARRAY[%s], ARRAY[%s], %s, %s, %s) AS verdict \\gset"
                   % (', '.join(":'st%d'" % i for i in range(1, n + 1)),
                      ', '.join(":'em%d'" % i for i in range(1, n + 1)), rolled_back,
                      'true' if body == 'preview_run' else 'false', 'true' if self.typed else 'false'))
        return out

    def switch_role(self):
        if self.role == 'op' and self.p(0.08):
            self.role = 'su'
            return ['RESET SESSION AUTHORIZATION;']
        if self.role == 'su' and self.p(0.25):
            self.role = 'op'
            return ['SET SESSION AUTHORIZATION bulkorder_fuzz_op;']
        return []

    def script(self, calls):
        out = [
            '-- generated by test/fuzz/fuzz.py, seed %d: do not edit' % self.seed,
            '\\set ON_ERROR_STOP 0',
            '\\set QUIET 1',
            '\\o /dev/null',
            "SET statement_timeout = '60s';",
            "SET client_min_messages = error;",
            'SET SESSION AUTHORIZATION bulkorder_fuzz_op;',
        ]
        for c in range(1, calls + 1):
            out += self.switch_role()
            out += self.block(c)
            if c % 5 == 0:
                out += ["SELECT clock_timestamp() > :'deadline'::timestamptz AS fuzz_stop \\gset",
                        '\\if :fuzz_stop', '\\echo fuzz: time is up after call %d' % c, '\\q', '\\endif']
            if c % 100 == 0:
                # not fuzz calls: old jobs and uploads go, so the fingerprint
                # stays cheap; settings that refuse most calls are reset
                out += (['\\echo fuzz: %d calls' % c] if c % 500 == 0 else []) + ['RESET SESSION AUTHORIZATION;']
                out += ['RESET %s;' % g['name'] for g in self.m['settings'] or [] if g['context'] in ('user', 'superuser')]
                out += ['SELECT bulkorder_fuzz.compact(20);']
                self.small_chunks = False
                if self.role == 'op':
                    out.append('SET SESSION AUTHORIZATION bulkorder_fuzz_op;')
        out.append('\\echo fuzz: all %d calls done' % calls)
        return '\n'.join(out) + '\n'


def main():
    if len(sys.argv) != 4:
        sys.exit('usage: fuzz.py METADATA.json SEED CALLS')
    with open(sys.argv[1], encoding='utf-8') as f:
        meta = json.load(f)
    g = Gen(meta, int(sys.argv[2]))
    sys.stdout.write(g.script(int(sys.argv[3])))


if __name__ == '__main__':
    main()
