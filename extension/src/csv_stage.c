/*-------------------------------------------------------------------------
 *
 * csv_stage.c
 *	  Staging an uploaded CSV file: its lines into bulkorder.upload_lines
 *	  (and, for the shipment import, bulkorder.upload_shipments), through a
 *	  tuplesort by key, a batch at a time, and the upload's counts.
 *
 * Column A of each record is normalised (csv_cells.c).  Lines with a key go
 * through a tuplesort by key, and are then checked against the page's table
 * and staged in bulkorder.upload_lines a batch at a time, one set-based
 * statement per batch: memory stays bounded (work_mem and one batch)
 * whatever the file's length.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/tupdesc.h"
#include "catalog/pg_operator_d.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/tuplesort.h"

#include "bulkorder_csv.h"

/* records staged per INSERT: bounds memory whatever the file's size */
#define CSV_BATCH_LINES 10000
/* a batch whose key range is at most this many times its keys is dense */
#define CSV_DENSE_SPAN 4

/* ------------------------------------------------------------------------
 * Staging.  Memory is bounded whatever the file's length:
 *
 *  - while COPY reads the file, a line whose column A is not a number goes
 *    into a batch of its own (staged when it fills); a line with a key goes
 *    into a tuplesort by (key, line), which spills to disk beyond work_mem;
 *  - then the sorted stream is read a batch at a time: within a run of one
 *    key the first line is the key's, the later ones are duplicate_key; and
 *    one statement per batch checks the batch's keys against the page's
 *    table and stages its lines.  The batch's keys are passed as constants,
 *    so the planner knows their number and range and picks index probes for
 *    a few keys and a range scan for a dense million;
 *  - last, the lines without a key left in their batch (CsvParse.keyless).
 * ------------------------------------------------------------------------
 */
typedef struct CsvBatch
{
	MemoryContext ctx;			/* its values; reset after every statement */
	int			n;
	Datum		line_nos[CSV_BATCH_LINES];
	Datum		keys[CSV_BATCH_LINES];
	Datum		first_lines[CSV_BATCH_LINES];
	bool		first_line_nulls[CSV_BATCH_LINES];
	Datum		values[CSV_BATCH_LINES];
	bool		value_nulls[CSV_BATCH_LINES];
	Datum		trackings[CSV_BATCH_LINES];
	bool		tracking_nulls[CSV_BATCH_LINES];
	Datum		codes[CSV_BATCH_LINES];	/* lines without a key: their error_code */
	Datum		causes[CSV_BATCH_LINES];	/* ... and its likely spreadsheet cause */
	bool		cause_nulls[CSV_BATCH_LINES];
	Datum		refusals[CSV_BATCH_LINES];	/* lines with a key: why column B is refused */
	bool		refusal_nulls[CSV_BATCH_LINES];
	Datum		fits[CSV_BATCH_LINES];	/* ... whether it is one of every format */
	bool		fits_nulls[CSV_BATCH_LINES];
} CsvBatch;

typedef struct CsvParse
{
	int64		upload_id;
	bool		with_tracking;	/* the import: keep column B */
	char	  **formats;		/* ... and the formats its carriers issue */
	int			nformats;
	CsvPage    *page;			/* check keys against it; NULL: do not */

	/* what the file held */
	int			line_count;
	int			blank_count;
	int			key_lines;		/* lines whose column A is a number */
	int			keyless_lines;	/* lines whose column A is not */
	int			valid_keys;		/* lines that gave a usable key */
	bool		header;			/* a header line (and title rows above it) */

	MemoryContext record_ctx;	/* one record's work; reset for every record */

	/*
	 * The lines with a key and those without, each staged a batch at a time
	 * (one allocation each, about 770 kB).  A line without a key has a NULL
	 * key, which the index (upload_id, key) sorts after every key: staged
	 * before the sorted lines, such lines would leave none of them at the
	 * index's right end, so that each took a descent of the tree instead of
	 * its rightmost-page fast path (1,368,160 descents for a million lines,
	 * a fifth of the upload's instructions: bench/PROFILE.md).  They are
	 * staged last, unless more than a batch of them come first.
	 */
	CsvBatch   *batch;
	CsvBatch   *keyless;

	/* the lines with a key, sorted by (key, line) */
	TupleDesc	sort_desc;
	TupleTableSlot *put_slot;
	TupleTableSlot *get_slot;
	Tuplesortstate *sort;
} CsvParse;

static Datum
int4_array(Datum *elems, int n)
{
	return PointerGetDatum(construct_array(elems, n, INT4OID, sizeof(int32), true, TYPALIGN_INT));
}

static Datum
nullable_array(Datum *elems, bool *nulls, int n, Oid type)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, type,
											  typlen, typbyval, typalign));
}

/*
 * A batch's statement runs in the batch's context: batch_begin switches to
 * it and fills the arguments every statement has ($1 the upload, $2 the
 * lines), false when the batch is empty; batch_end empties the batch.
 */
static bool
batch_begin(CsvParse *st, CsvBatch *b, Datum *args, MemoryContext *old)
{
	if (b->n == 0)
		return false;
	*old = MemoryContextSwitchTo(b->ctx);
	args[0] = Int64GetDatum(st->upload_id);
	args[1] = int4_array(b->line_nos, b->n);
	return true;
}

static void
batch_end(CsvBatch *b, MemoryContext old)
{
	MemoryContextSwitchTo(old);
	b->n = 0;
	MemoryContextReset(b->ctx);
}

/*
 * Stage the batch of lines whose column A gave no key: its code
 * (csv_sheet_code: not_a_number, with the likely spreadsheet cause when
 * there is one, or the spreadsheet's cause itself: rounded_number,
 * not_an_integer, negative_number, currency_format, formula_text).
 */
static void
flush_keyless(CsvParse *st)
{
	CsvBatch   *b = st->keyless;
	Oid			types[6] = {INT8OID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID};
	Datum		args[6];
	MemoryContext old;

	if (!batch_begin(st, b, args, &old))
		return;
	args[2] = nullable_array(b->values, b->value_nulls, b->n, TEXTOID);
	args[3] = nullable_array(b->trackings, b->tracking_nulls, b->n, TEXTOID);
	args[4] = nullable_array(b->codes, NULL, b->n, TEXTOID);
	args[5] = nullable_array(b->causes, b->cause_nulls, b->n, TEXTOID);
	bulk_spi_exec("INSERT INTO bulkorder.upload_lines"
				  " (upload_id, line_no, value, tracking_no, error_code, cause)"
				  " SELECT $1, u.line_no, u.value, u.tracking_no, u.error_code, u.cause"
				  " FROM unnest($2, $3, $4, $5, $6) AS u(line_no, value, tracking_no, error_code, cause)",
				  6, types, args, NULL, false, SPI_OK_INSERT);
	batch_end(b, old);
}

/*
 * Stage a batch of lines with a key, sorted by key: check the batch's
 * distinct keys against the page in the same statement.  A key unknown to
 * the page is not_found on every line giving it.  A line of the import
 * whose tracking number the spreadsheet spoiled has that refusal's code
 * (rounded_number, not_an_integer, negative_number, currency_format,
 * formula_text: csv_tracking_no), and one that is not a tracking number of
 * its order's carrier invalid_tracking_no, its cause the format and the
 * problem (jp12:check_digit), so that upload_errors says which; the
 * import's rules of the same names then fail the order, checking again
 * against the carrier the order has when the job runs.  A repeat of a
 * known key is duplicate_key with the key's first line.
 */
static void
flush_keys(CsvParse *st)
{
	CsvBatch   *b = st->batch;
	Oid			types[9] = {INT8OID, INT4ARRAYOID, INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID,
	INT8OID, INT8OID, TEXTARRAYOID, BOOLARRAYOID};
	Datum		args[9];
	char		nulls[9] = "        n";
	StringInfoData canonical;
	char	   *found;
	char	   *join;
	char	   *sql;
	bool		isnull;
	MemoryContext old;

	if (!batch_begin(st, b, args, &old))
		return;
	args[2] = nullable_array(b->keys, NULL, b->n, INT8OID);
	args[3] = nullable_array(b->first_lines, b->first_line_nulls, b->n, INT4OID);
	args[4] = nullable_array(b->trackings, b->tracking_nulls, b->n, TEXTOID);
	args[5] = b->keys[0];		/* sorted: the batch's range */
	args[6] = b->keys[b->n - 1];
	args[7] = nullable_array(b->refusals, b->refusal_nulls, b->n, TEXTOID);

	/*
	 * The import: a tracking number of every format the shop's carriers
	 * issue (and 'text': an order without one) is one of its order's,
	 * whatever the carrier: only the other lines need their order looked
	 * up.  Other uploads pass no $9 (unnest pads it with NULLs).
	 */
	args[8] = (Datum) 0;
	if (st->with_tracking)
	{
		initStringInfo(&canonical);
		for (int i = 0; i < b->n; i++)
		{
			text	   *t = (text *) DatumGetPointer(b->trackings[i]);
			bool		fits = true;

			b->fits_nulls[i] = b->tracking_nulls[i];
			for (int f = 0; f < st->nformats && fits && !b->tracking_nulls[i]; f++)
				fits = csv_tracking_check(st->formats[f], VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t),
										  &canonical) == NULL;
			b->fits[i] = BoolGetDatum(fits);
		}
		args[8] = nullable_array(b->fits, b->fits_nulls, b->n, BOOLOID);
		nulls[8] = ' ';
	}
	if (st->page)
	{
		const char *key = quote_identifier(st->page->key);
		uint64		span = (uint64) DatumGetInt64(b->keys[b->n - 1]) - (uint64) DatumGetInt64(b->keys[0]);

		found = psprintf("t.%s IS NOT NULL", key);

		/*
		 * A dense batch (a large file: its sorted keys close together) is
		 * resolved by one join over the batch's key range; a sparse one (a
		 * few thousand order numbers from all over the shop) key by key, or
		 * the planner hashes every row of the range for it.
		 */
		if (span / CSV_DENSE_SPAN <= (uint64) b->n)
			join = psprintf(" LEFT JOIN %s AS t ON t.%s = u.key AND t.%s BETWEEN $6 AND $7 AND (%s)",
							st->page->table, key, key, st->page->visible);
		else
			join = psprintf(" LEFT JOIN LATERAL (SELECT t.%s FROM %s AS t WHERE t.%s = u.key AND (%s)"
							" LIMIT 1) AS t ON true",
							key, st->page->table, key, st->page->visible);
	}
	else
	{
		found = "true";
		join = "";
	}
	sql = psprintf("WITH staged AS ("
				   " INSERT INTO bulkorder.upload_lines"
				   " (upload_id, line_no, key, tracking_no, error_code, first_line, cause)"
				   " SELECT $1, u.line_no, u.key, u.tracking_no, e.code,"
				   "  CASE WHEN e.code = 'duplicate_key' THEN u.first_line END,"
				   "  CASE WHEN e.code = 'invalid_tracking_no' THEN c.format || ':' || c.problem END"
				   " FROM unnest($2, $3, $4, $5, $8, $9)"
				   "  AS u(line_no, key, first_line, tracking_no, refusal, fits)%s%s"
				   " CROSS JOIN LATERAL (SELECT CASE WHEN NOT (%s) THEN 'not_found'"
				   "  WHEN u.refusal IS NOT NULL THEN u.refusal"
				   "  WHEN c.problem IS NOT NULL THEN 'invalid_tracking_no'"
				   "  WHEN u.first_line IS NOT NULL THEN 'duplicate_key' END AS code) e"
				   " RETURNING error_code)"
				   " SELECT count(*) FILTER (WHERE error_code IS NULL) FROM staged",
				   join,
	/*
	 * The import: the tracking number against its order's carrier, for a
	 * line whose number is not one of every format (u.fits): its order
	 * looked up line by line (LATERAL with LIMIT: neither flattened into a
	 * join nor copied into each expression that reads the format), the
	 * shop's few carriers hashed once.  A join to the orders let the
	 * planner hash every order of the batch's key range, which for a file
	 * of scattered keys is most of the shop: a 10,000-line batch hashed
	 * 283,000 orders, a quarter of the import's instructions
	 * (bench/PROFILE.md).
	 */
				   st->with_tracking ?
				   " LEFT JOIN LATERAL (SELECT o.delivery_method FROM bulkorder.orders o"
				   "  WHERE o.order_no = u.key AND NOT u.fits LIMIT 1) AS o ON true"
				   " LEFT JOIN bulkorder.delivery_methods dm ON dm.code = o.delivery_method"
				   " CROSS JOIN LATERAL (SELECT coalesce(dm.tracking_format, 'text') AS format) f"
				   " CROSS JOIN LATERAL (SELECT f.format, CASE WHEN u.refusal IS NULL"
				   "  AND u.tracking_no IS NOT NULL"
	/* longer: the rule tracking_no_too_long's, as in 1.1 */
				   "  AND length(u.tracking_no) <= 100"
				   "  AND NOT u.fits"
				   "  THEN bulkorder.tracking_no_problem(f.format, u.tracking_no) END AS problem) c" :
				   " CROSS JOIN (SELECT NULL::text AS format, NULL::text AS problem) c",
				   found);
	/* one-shot plan: the arrays are constants to the planner */
	bulk_spi_exec(sql, 9, types, args, nulls, false, SPI_OK_SELECT);
	st->valid_keys += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	batch_end(b, old);
}

/*
 * One record of the file, COPY's raw fields.  Runs in the SPI procedure
 * context and leaves it current.
 */
static void
stage_record(void *arg, char **fields, int nfields, int line_no)
{
	CsvParse   *st = (CsvParse *) arg;
	CsvBatch   *b = st->keyless;
	bool		blank = true;
	int64		key = 0;
	SheetKind	kind;
	char	   *tracking = NULL;
	const char *refusal = NULL;
	char	   *shown;
	const char *cause;
	MemoryContext proc = CurrentMemoryContext;

	MemoryContextReset(st->record_ctx);
	MemoryContextSwitchTo(st->record_ctx);

	for (int i = 0; i < nfields && blank; i++)
		blank = csv_field_is_blank(fields[i]);

	/* blank lines (also Excel's ",,,") are skipped, and still counted */
	if (blank)
	{
		st->blank_count++;
		MemoryContextSwitchTo(proc);
		return;
	}

	kind = csv_parse_key(fields[0], &key);

	/*
	 * The first line with content is the header when its column A is text:
	 * not a number in any form a spreadsheet writes, nor a broken or refused
	 * one (10.5, 1,23, 1.19E+05, #N/A, -114391, (114391), ¥114,391, =A1,
	 * digits past bigint, 114391 then a tab or a semicolon), which is a data
	 * line with its error: a line that looks like a number is never lost
	 * silently, the first one included.  A title row above the header
	 * ("出荷実績 2026年12月") makes the header the second such line: before
	 * the first data line, a line whose column A is text without a digit or
	 * a "#" ("注文番号") is a header line too, never an error; one with
	 * either (118501., #N/A!) is a data line with its error.
	 */
	if (st->key_lines == 0 && st->keyless_lines == 0 &&
		(kind == SHEET_TEXT || kind == SHEET_EMPTY) &&
		(!st->header || !csv_field_numberish(fields[0])))
	{
		st->header = true;
		MemoryContextSwitchTo(proc);
		return;
	}

	if (st->with_tracking && nfields > 1)
		tracking = csv_tracking_no(fields[1], &refusal);

	if (kind == SHEET_INTEGER)
	{
		/* into the sort, which copies the tuple */
		TupleTableSlot *slot = st->put_slot;

		st->key_lines++;
		ExecClearTuple(slot);
		slot->tts_values[0] = Int64GetDatum(key);
		slot->tts_isnull[0] = false;
		slot->tts_values[1] = Int32GetDatum(line_no);
		slot->tts_isnull[1] = false;
		slot->tts_values[2] = tracking ? CStringGetTextDatum(tracking) : (Datum) 0;
		slot->tts_isnull[2] = (tracking == NULL);
		slot->tts_values[3] = refusal ? CStringGetTextDatum(refusal) : (Datum) 0;
		slot->tts_isnull[3] = (refusal == NULL);
		ExecStoreVirtualTuple(slot);
		tuplesort_puttupleslot(st->sort, slot);
		MemoryContextSwitchTo(proc);
		return;
	}

	/* no key: staged at once, a batch at a time */
	shown = csv_field_display(fields[0]);
	cause = csv_sheet_cause(kind);
	st->keyless_lines++;
	MemoryContextSwitchTo(b->ctx);
	b->line_nos[b->n] = Int32GetDatum(line_no);
	b->codes[b->n] = CStringGetTextDatum(csv_sheet_code(kind));
	b->cause_nulls[b->n] = (cause == NULL);
	b->causes[b->n] = cause ? CStringGetTextDatum(cause) : (Datum) 0;
	b->value_nulls[b->n] = (shown == NULL);
	b->values[b->n] = shown ? CStringGetTextDatum(shown) : (Datum) 0;
	b->tracking_nulls[b->n] = (tracking == NULL);
	b->trackings[b->n] = tracking ? CStringGetTextDatum(tracking) : (Datum) 0;
	b->n++;
	MemoryContextSwitchTo(proc);
	if (b->n == CSV_BATCH_LINES)
		flush_keyless(st);
}

/* an empty batch, with a context of its own for its values */
static CsvBatch *
new_batch(void)
{
	CsvBatch   *b = palloc(sizeof(CsvBatch));

	b->ctx = AllocSetContextCreate(CurrentMemoryContext, "bulkorder CSV batch",
								   ALLOCSET_DEFAULT_SIZES);
	b->n = 0;
	return b;
}

/* Parse the whole file into bulkorder.upload_lines for st->upload_id. */
static void
stage_file(CsvParse *st, const char *data, size_t len, int encoding)
{
	CsvBatch   *b = new_batch();
	AttrNumber	sort_cols[2] = {1, 2};
	Oid			sort_ops[2] = {Int8LessOperator, Int4LessOperator};
	Oid			sort_colls[2] = {InvalidOid, InvalidOid};
	bool		nulls_first[2] = {false, false};
	bool		have_prev = false;
	int64		prev_key = 0;
	int			first_line = 0;

	st->batch = b;
	st->keyless = new_batch();
	st->record_ctx = AllocSetContextCreate(CurrentMemoryContext, "bulkorder CSV record",
										   ALLOCSET_DEFAULT_SIZES);
	st->sort_desc = CreateTemplateTupleDesc(4);
	TupleDescInitEntry(st->sort_desc, 1, "key", INT8OID, -1, 0);
	TupleDescInitEntry(st->sort_desc, 2, "line_no", INT4OID, -1, 0);
	TupleDescInitEntry(st->sort_desc, 3, "tracking_no", TEXTOID, -1, 0);
	TupleDescInitEntry(st->sort_desc, 4, "refusal", TEXTOID, -1, 0);
	st->put_slot = MakeSingleTupleTableSlot(st->sort_desc, &TTSOpsVirtual);
	st->get_slot = MakeSingleTupleTableSlot(st->sort_desc, &TTSOpsMinimalTuple);
	st->sort = tuplesort_begin_heap(st->sort_desc, 2, sort_cols, sort_ops, sort_colls,
									nulls_first, work_mem, NULL, TUPLESORT_NONE);

	st->line_count = csv_read_records(data, len, encoding, stage_record, st);

	tuplesort_performsort(st->sort);
	for (;;)
	{
		TupleTableSlot *slot = st->get_slot;
		int64		key;
		int			line_no;
		bool		isnull;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(b->ctx);
		if (!tuplesort_gettupleslot(st->sort, true, false, slot, NULL))
		{
			MemoryContextSwitchTo(old);
			break;
		}
		key = DatumGetInt64(slot_getattr(slot, 1, &isnull));
		line_no = DatumGetInt32(slot_getattr(slot, 2, &isnull));
		b->line_nos[b->n] = Int32GetDatum(line_no);
		b->keys[b->n] = Int64GetDatum(key);
		if (have_prev && key == prev_key)
		{
			b->first_lines[b->n] = Int32GetDatum(first_line);
			b->first_line_nulls[b->n] = false;
		}
		else
		{
			first_line = line_no;
			b->first_line_nulls[b->n] = true;
		}
		b->trackings[b->n] = slot_getattr(slot, 3, &b->tracking_nulls[b->n]);
		if (!b->tracking_nulls[b->n])
			b->trackings[b->n] = PointerGetDatum(PG_DETOAST_DATUM_COPY(b->trackings[b->n]));
		b->refusals[b->n] = slot_getattr(slot, 4, &b->refusal_nulls[b->n]);
		if (!b->refusal_nulls[b->n])
			b->refusals[b->n] = PointerGetDatum(PG_DETOAST_DATUM_COPY(b->refusals[b->n]));
		b->n++;
		have_prev = true;
		prev_key = key;
		ExecClearTuple(slot);
		MemoryContextSwitchTo(old);
		if (b->n == CSV_BATCH_LINES)
			flush_keys(st);
	}
	flush_keys(st);
	/* after the sorted lines: their NULL keys come last in the index too */
	flush_keyless(st);

	tuplesort_end(st->sort);
	ExecDropSingleTupleTableSlot(st->put_slot);
	ExecDropSingleTupleTableSlot(st->get_slot);
	MemoryContextDelete(b->ctx);
	MemoryContextDelete(st->keyless->ctx);
	MemoryContextDelete(st->record_ctx);
}

static int64
insert_upload(const char *page, const char *purpose, const char *operator_name, int64 file_size,
			  int encoding, bool bom)
{
	Oid			types[7] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, TEXTOID, BOOLOID};
	Datum		values[7];
	char		nulls[7] = "       ";
	bool		isnull;

	values[0] = CStringGetTextDatum(page);
	values[1] = CStringGetTextDatum(purpose);
	values[2] = CStringGetTextDatum(GetUserNameFromId(GetOuterUserId(), false));
	/* the operator is optional */
	values[3] = operator_name ? CStringGetTextDatum(operator_name) : (Datum) 0;
	nulls[3] = operator_name ? ' ' : 'n';
	values[4] = Int64GetDatum(file_size);
	values[5] = CStringGetTextDatum(pg_encoding_to_char(encoding));
	values[6] = BoolGetDatum(bom);
	bulk_spi_exec("INSERT INTO bulkorder.uploads"
				  " (page, purpose, uploaded_by, operator, file_size, encoding, has_bom)"
				  " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING upload_id",
				  7, types, values, nulls, false, SPI_OK_INSERT_RETURNING);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

static void
record_counts(CsvParse *st)
{
	Oid			types[6] = {INT8OID, INT4OID, INT4OID, INT4OID, INT4OID, BOOLOID};
	Datum		values[6];

	values[0] = Int64GetDatum(st->upload_id);
	values[1] = Int32GetDatum(st->line_count);
	values[2] = Int32GetDatum(st->blank_count);
	values[3] = Int32GetDatum(st->valid_keys);
	values[4] = Int32GetDatum(st->keyless_lines + st->key_lines - st->valid_keys);
	values[5] = BoolGetDatum(st->header);
	bulk_spi_exec("UPDATE bulkorder.uploads SET line_count = $2, blank_line_count = $3,"
				  " key_count = $4, error_count = $5, has_header = $6"
				  " WHERE upload_id = $1",
				  6, types, values, NULL, false, SPI_OK_UPDATE);
}

/*
 * The formats the shop's carriers issue, and 'text' (an order without a
 * carrier), into st->formats for the current call: read once per file.
 */
static void
load_tracking_formats(CsvParse *st)
{
	MemoryContext call = CurrentMemoryContext;

	bulk_spi_exec("SELECT DISTINCT tracking_format FROM bulkorder.delivery_methods"
				  " WHERE tracking_format <> 'text'",
				  0, NULL, NULL, NULL, true, SPI_OK_SELECT);
	st->formats = MemoryContextAlloc(call, sizeof(char *) * (SPI_processed + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
		st->formats[st->nformats++] =
			MemoryContextStrdup(call, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	st->formats[st->nformats++] = "text";
	SPI_freetuptable(SPI_tuptable);
}

/*
 * Parse content into a new upload of page; returns its id.  With
 * check_page, every key is checked against the page's table; with
 * with_tracking, column B is kept as the line's tracking number.
 */
int64
csv_stage_upload(const char *page, const char *purpose, bytea *content, int encoding,
				 const char *operator_name, CsvPage *check_page, bool with_tracking)
{
	CsvParse	st;
	const char *data;
	size_t		len;
	bool		bom;

	memset(&st, 0, sizeof(st));
	csv_content_bytes(content, &data, &len, &encoding, &bom);
	st.upload_id = insert_upload(page, purpose, operator_name, VARSIZE_ANY_EXHDR(content),
								 encoding, bom);
	st.with_tracking = with_tracking;
	if (with_tracking)
		load_tracking_formats(&st);
	st.page = check_page;
	stage_file(&st, data, len, encoding);
	record_counts(&st);
	return st.upload_id;
}

/*
 * The shipment import's rows: one per order number, its first line and its
 * tracking numbers.  A tracking number the spreadsheet spoiled is never one
 * of them: the order is marked (rounded, or the refusal's code in
 * tracking_errors) and fails with that code (the operation's rules of the
 * same names read the marks), whatever its other lines give.  A line that
 * is not a tracking number of its carrier (invalid_tracking_no) keeps it:
 * the rule of that name checks it again, against the carrier the order has
 * when the job runs.
 */
void
csv_stage_shipments(int64 upload_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(upload_id)};

	bulk_spi_exec("INSERT INTO bulkorder.upload_shipments (upload_id, order_no, line_no, tracking_nos,"
				  "  rounded, tracking_errors)"
				  " SELECT $1, l.key, min(l.line_no),"
				  "  coalesce(array_agg(DISTINCT l.tracking_no ORDER BY l.tracking_no)"
				  "           FILTER (WHERE l.tracking_no IS NOT NULL"
				  "                   AND (l.error_code IS NULL"
				  "                        OR l.error_code IN ('duplicate_key', 'invalid_tracking_no'))), '{}'),"
				  "  coalesce(bool_or(l.error_code = 'rounded_number'), false),"
				  "  coalesce(array_agg(DISTINCT l.error_code ORDER BY l.error_code)"
				  "           FILTER (WHERE l.error_code IN ('formula_text', 'currency_format',"
				  "                                          'negative_number', 'not_an_integer')), '{}')"
				  " FROM bulkorder.upload_lines l"
				  " WHERE l.upload_id = $1 AND l.key IS NOT NULL"
				  " GROUP BY l.key",
				  1, types, values, NULL, false, SPI_OK_INSERT);
}

/*
 * The import's job, on its upload; or, when the job is an earlier call's
 * (the same request key, committed first), no job reads this upload: its
 * rows are dropped.
 */
void
csv_settle_upload(int64 upload_id, int64 job_id, bool own_job)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(upload_id), Int64GetDatum(job_id)};

	if (own_job)
		bulk_spi_exec("UPDATE bulkorder.uploads SET job_id = $2 WHERE upload_id = $1",
					  2, types, values, NULL, false, SPI_OK_UPDATE);
	else
		bulk_spi_exec("WITH u AS (DELETE FROM bulkorder.uploads WHERE upload_id = $1),"
					  " l AS (DELETE FROM bulkorder.upload_lines WHERE upload_id = $1)"
					  " DELETE FROM bulkorder.upload_shipments WHERE upload_id = $1",
					  1, types, values, NULL, false, SPI_OK_DELETE);
}
