/*-------------------------------------------------------------------------
 *
 * csv_read.c
 *	  Reading an uploaded CSV file: a COPY data source over its bytes.
 *
 * The bytes of an uploaded file are parsed by PostgreSQL's own COPY CSV
 * machinery, driven the way file_fdw drives it: BeginCopyFrom with a data
 * source callback reading the bytea, then NextCopyFromRawFields for the raw
 * fields of each record, handed to the caller's callback (csv_stage.c).
 * COPY converts (SJIS) or verifies (UTF8) every byte of the file; an
 * invalid byte, or a record COPY cannot parse, rejects the whole call with
 * COPY's SQLSTATE and the line where the record starts.  This is the only
 * file of the extension that includes PostgreSQL internals.
 *
 * Line numbers are physical lines of the file, 1-based, the way a text
 * editor numbers them: a record's line is the line where it starts, and a
 * quoted field holding line breaks (Excel's Alt+Enter) moves the next
 * record's line on by the number of breaks it holds (CRLF, LF or CR each
 * count one).  COPY's own counter cannot be used for this: it counts only
 * the file's own kind of line break inside quotes, and Excel writes LF
 * inside quotes in a CRLF file.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

/*
 * COPY's internals.  csv_read.c drives COPY FROM through its API (BeginCopyFrom,
 * NextCopyFromRawFields) and reads these fields of CopyFromStateData
 * (commands/copyfrom_internal.h), which PostgreSQL does not export as an
 * API and may change in any major version:
 *
 *  - raw_buf, raw_buf_index, raw_buf_len, input_buf, input_buf_index and
 *    input_buf_len (through RAW_BUF_BYTES and INPUT_BUF_BYTES), in
 *    copy_left_data(): once NextCopyFromRawFields says the data has ended,
 *    whether COPY still holds bytes it has not parsed, i.e. whether it
 *    stopped at a "\." line (its end-of-data marker, even in CSV mode)
 *    with more of the file behind it, which must not be dropped silently;
 *  - line_buf, in check_record_width(): the bytes of the record COPY is
 *    reading, so that a record wider than CSV_MAX_RECORD_BYTES is refused
 *    while COPY reads it, before it splits it into one pointer per field.
 *
 * Their names and meanings are those of PostgreSQL 15.  Check them again
 * (and the "\." rules of CopyReadLineText) before allowing another version.
 */
#if PG_VERSION_NUM < 150000 || PG_VERSION_NUM >= 160000
#error "csv_read.c reads CopyFromStateData fields of PostgreSQL 15 (raw_buf, raw_buf_index, raw_buf_len, input_buf, input_buf_index, input_buf_len, line_buf): check copyfrom_internal.h of this version first"
#endif

#include "access/table.h"
#include "catalog/namespace.h"
#include "commands/copy.h"
#include "commands/copyfrom_internal.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "bulkorder_csv.h"


/*
 * The widest record (a line, or lines joined by quoted line breaks) an
 * upload accepts, in bytes of the database encoding.  COPY holds a record
 * whole in line_buf, then in attribute_buf, and splits it into an array of
 * one pointer per field that doubles as it grows: 16 bytes per comma, so a
 * 50 MB line of commas took 528 MB and a 200 MB one failed to allocate.
 * Only columns A and B are read, and a spreadsheet's CSV line is a few
 * kilobytes, so 1 MB is far beyond any real file and bounds those buffers
 * to about 20 MB whatever the file's shape.
 */
#define CSV_MAX_RECORD_BYTES (1024 * 1024)

/* ------------------------------------------------------------------------
 * The data source: COPY reads the bytea through this callback.  COPY's
 * callback takes no argument, so the current source is a static; it is set
 * only while one parse runs and cleared on every exit.
 * ------------------------------------------------------------------------
 */
typedef struct CsvSource
{
	const char *data;
	size_t		len;
	size_t		pos;
	CopyFromState cstate;		/* the COPY reading it, once begun */
	int			record_line;	/* line where COPY's current record starts */
	int			last_record_line;	/* line where the last record started */
} CsvSource;

static CsvSource *current_source = NULL;

/*
 * Refuse a record wider than CSV_MAX_RECORD_BYTES (+ slack), naming the
 * line where it starts.
 */
static void
check_record_width(CopyFromState cstate, int slack, int line)
{
	if (cstate->line_buf.len <= CSV_MAX_RECORD_BYTES + slack)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("a record longer than %d bytes is not allowed in a CSV upload",
					CSV_MAX_RECORD_BYTES),
			 bulk_errdetail(BMSG_CSV_LINE_TOO_LONG, psprintf("%d", line),
							psprintf("%d", CSV_MAX_RECORD_BYTES)),
			 bulk_errhint(BMSG_CSV_ONLY_COLUMNS_AB, NULL)));
}

static int
csv_source_read(void *outbuf, int minread, int maxread)
{
	CsvSource  *src = current_source;
	size_t		n;

	if (src == NULL)
		elog(ERROR, "bulkorder: CSV data source read outside a parse");

	/*
	 * COPY asks for more bytes in the middle of a record when the record is
	 * longer than what it has: refuse it here, before COPY holds more than
	 * the limit and one read buffer of it.  The slack allows for a CR whose
	 * LF COPY has yet to see.
	 */
	if (src->cstate != NULL)
		check_record_width(src->cstate, 2, src->record_line);
	n = Min((size_t) maxread, src->len - src->pos);
	memcpy(outbuf, src->data + src->pos, n);
	src->pos += n;
	return (int) n;
}

/* Line breaks inside a (quoted) field: CRLF, LF and CR count one each. */
static int
count_breaks(const char *field)
{
	int			n = 0;

	if (field == NULL)
		return 0;
	for (const char *p = field; *p; p++)
	{
		if (*p == '\r')
		{
			n++;
			if (p[1] == '\n')
				p++;
		}
		else if (*p == '\n')
			n++;
	}
	return n;
}

/* true when COPY stopped on a "\." line with more of the file after it */
static bool
copy_left_data(CopyFromState cstate, CsvSource *src)
{
	if (src->pos < src->len)
		return true;
	if (INPUT_BUF_BYTES(cstate) > 0)
		return true;
	if (cstate->raw_buf == cstate->input_buf)
		return cstate->raw_buf_len > cstate->input_buf_index;
	return RAW_BUF_BYTES(cstate) > 0;
}

/*
 * true when the file's last line is "\." alone.  (A "\." line can only
 * follow a line break that is not inside quotes, else COPY would have
 * failed on the open quote; and in Shift_JIS a backslash after a line break
 * cannot be a trail byte.)  *broken tells whether a line break ends it:
 * then COPY took it as its end-of-data marker and stopped there; without
 * one COPY returned it as the file's last record.
 */
static bool
ends_with_end_marker(const char *data, size_t len, bool *broken)
{
	size_t		n = len;

	if (n >= 2 && data[n - 2] == '\r' && data[n - 1] == '\n')
		n -= 2;
	else if (n >= 1 && (data[n - 1] == '\n' || data[n - 1] == '\r'))
		n -= 1;
	*broken = (n < len);
	if (n < 2 || data[n - 2] != '\\' || data[n - 1] != '.')
		return false;
	return n == 2 || data[n - 3] == '\n' || data[n - 3] == '\r';
}

/*
 * The context of any error raised while the file is read, as file_fdw
 * gives COPY's: "CSV line N", N the line where the record being read starts
 * (in bulkorder.language).  A file COPY rejects (a data exception: bad
 * bytes, an unterminated quoted field, mixed line endings, an end marker)
 * also gets a detail saying that nothing was kept, and bad bytes a hint
 * about the encoding option; COPY's errors carry no detail, nor a hint for
 * bad bytes.  The SQLSTATE stays COPY's.
 */
typedef struct CsvLineContext
{
	CsvSource  *src;
	int			encoding;
} CsvLineContext;

static void
csv_line_callback(void *arg)
{
	CsvLineContext *ctx = (CsvLineContext *) arg;
	int			code = geterrcode();

	errcontext("%s", bulk_message(BMSG_CSV_LINE, psprintf("%d", ctx->src->record_line)));
	if (ERRCODE_TO_CATEGORY(code) != ERRCODE_DATA_EXCEPTION)
		return;
	errdetail("%s", bulk_message(BMSG_CSV_REJECTED, NULL));
	if (code == ERRCODE_CHARACTER_NOT_IN_REPERTOIRE || code == ERRCODE_UNTRANSLATABLE_CHARACTER)
		errhint("%s", bulk_message(ctx->encoding == PG_SJIS ? BMSG_CSV_NOT_SJIS : BMSG_CSV_NOT_UTF8,
								   NULL));
}

/*
 * Read the file with COPY, calling fn for every record; returns the number
 * of lines the file holds.  An error while a record is read or staged names
 * its line (csv_line_callback).
 */
int
csv_read_records(const char *data, size_t len, int encoding, CsvRecordFn fn, void *arg)
{
	CsvSource	src = {data, len, 0, NULL, 1, 0};
	CsvLineContext line_ctx = {&src, encoding};
	ErrorContextCallback errcallback;
	Relation	rel;
	List	   *copy_options;

	/*
	 * COPY needs a relation as the template of its rows; only raw fields are
	 * read here, so the staging table itself serves.
	 */
	rel = table_open(get_relname_relid("upload_lines", get_namespace_oid("bulkorder", false)),
					 RowExclusiveLock);
	copy_options = list_make2(makeDefElem("format", (Node *) makeString(pstrdup("csv")), -1),
							  makeDefElem("encoding",
										  (Node *) makeString(pstrdup(pg_encoding_to_char(encoding))),
										  -1));

	errcallback.callback = csv_line_callback;
	errcallback.arg = &line_ctx;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	current_source = &src;
	PG_TRY();
	{
		CopyFromState cstate = BeginCopyFrom(NULL, rel, NULL, NULL, false,
											 csv_source_read, NIL, copy_options);
		char	  **fields;
		int			nfields;
		int			line_no;
		int			breaks;
		bool		left;
		bool		marker_broken;

		src.cstate = cstate;
		for (;;)
		{
			CHECK_FOR_INTERRUPTS();
			if (!NextCopyFromRawFields(cstate, &fields, &nfields))
				break;
			breaks = 0;
			/* the exact bound, whatever COPY read in one go */
			check_record_width(cstate, 0, src.record_line);
			line_no = src.record_line;
			src.last_record_line = line_no;
			for (int i = 0; i < nfields; i++)
				breaks += count_breaks(fields[i]);
			src.record_line = line_no + 1 + breaks;
			fn(arg, fields, nfields, line_no);
		}

		/*
		 * In CSV mode COPY takes a line holding only \. as the end of the
		 * data.  Never drop the rest of a file silently, and name the line:
		 * where COPY stopped, or, for a last line "\." without a line break
		 * (which COPY returned as a record), the line of that record.
		 */
		left = copy_left_data(cstate, &src);
		if (left || ends_with_end_marker(data, len, &marker_broken))
		{
			if (!left && !marker_broken)
				src.record_line = src.last_record_line;
			ereport(ERROR,
					(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
					 errmsg("a line holding only \\. (COPY's end-of-data marker) is not allowed in a CSV upload"),
					 bulk_errhint(BMSG_CSV_END_MARKER, NULL)));
		}
		src.cstate = NULL;
		EndCopyFrom(cstate);
	}
	PG_FINALLY();
	{
		current_source = NULL;
	}
	PG_END_TRY();
	error_context_stack = errcallback.previous;
	table_close(rel, NoLock);
	return src.record_line - 1;
}

/*
 * The bytes to parse: a UTF-8 byte order mark is dropped, and makes the
 * file UTF-8 whatever options.encoding says (no Shift_JIS file can begin
 * with those bytes, and Excel's "CSV UTF-8" always writes one).  A UTF-16
 * file (Excel's "Unicode text") is refused with a hint.
 */
void
csv_content_bytes(bytea *content, const char **data, size_t *len, int *encoding, bool *bom)
{
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(content);
	size_t		n = VARSIZE_ANY_EXHDR(content);

	*bom = false;
	if (n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
	{
		p += 3;
		n -= 3;
		*bom = true;
		*encoding = PG_UTF8;
	}
	else if (n >= 2 && ((p[0] == 0xFF && p[1] == 0xFE) || (p[0] == 0xFE && p[1] == 0xFF)))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("CSV line 1: the file is UTF-16, not CSV text"),
				 bulk_errdetail(BMSG_CSV_REJECTED, NULL),
				 bulk_errhint(BMSG_CSV_UTF16, NULL)));
	*data = (const char *) p;
	*len = n;
}
