/*-------------------------------------------------------------------------
 *
 * csv.c
 *	  CSV target selection (SPEC §5) and the shipment data import (§6).
 *
 * The bytes of an uploaded file are parsed by PostgreSQL's own COPY CSV
 * machinery, driven the way file_fdw drives it: BeginCopyFrom with a data
 * source callback reading the bytea, then NextCopyFromRawFields for the raw
 * fields of each record.  COPY converts (SJIS) or verifies (UTF8) every byte
 * of the file; an invalid byte, or a record COPY cannot parse, rejects the
 * whole call with COPY's SQLSTATE and the line where the record starts.
 *
 * Column A of each record is normalised (surrounding half- and full-width
 * spaces dropped, full-width digits folded).  Lines with a key go through a
 * tuplesort by key, and are then checked against the page's table and
 * staged in bulkorder.upload_lines a batch at a time, one set-based
 * statement per batch: memory stays bounded (work_mem and one batch)
 * whatever the file's length.  See "Staging" below.
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
 * COPY's internals.  csv.c drives COPY FROM through its API (BeginCopyFrom,
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
#error "csv.c reads CopyFromStateData fields of PostgreSQL 15 (raw_buf, raw_buf_index, raw_buf_len, input_buf, input_buf_index, input_buf_len, line_buf): check copyfrom_internal.h of this version first"
#endif

#include "access/detoast.h"
#include "access/table.h"
#include "access/tupdesc.h"
#include "catalog/namespace.h"
#include "catalog/pg_operator_d.h"
#include "catalog/pg_type.h"
#include "commands/copy.h"
#include "commands/copyfrom_internal.h"
#include "executor/tuptable.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/tuplesort.h"

#include "bulkorder.h"

PG_FUNCTION_INFO_V1(bulkorder_upload_csv);
PG_FUNCTION_INFO_V1(bulkorder_import_shipments);

/* records staged per INSERT: bounds memory whatever the file's size */
#define CSV_BATCH_LINES 10000
/* characters of a field kept for messages (column A) or the import (B) */
#define CSV_KEEP_CHARS 200

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
	const int  *record_line;	/* line where COPY's current record starts */
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
			 errmsg("CSV line %d: a record longer than %d bytes is not allowed in a CSV upload",
					line, CSV_MAX_RECORD_BYTES),
			 errdetail("%d 行目が長すぎるため(1 行 %d バイトまで)、ファイルは取り込まれていません。",
					   line, CSV_MAX_RECORD_BYTES),
			 errhint("Only column A (and B for the shipment import) is read: delete the other columns and save the file again, or check that the file is CSV text.")));
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
		check_record_width(src->cstate, 2, *src->record_line);
	n = Min((size_t) maxread, src->len - src->pos);
	memcpy(outbuf, src->data + src->pos, n);
	src->pos += n;
	return (int) n;
}

/* ------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------
 */
typedef struct UploadOptions
{
	int			encoding;		/* PG_UTF8 or PG_SJIS */
	char	   *operator_name;
} UploadOptions;

/* "UTF8" and "SJIS", and the names Windows and Excel users know them by */
static int
parse_encoding_name(const char *name, int len)
{
	char		clean[32];
	int			j = 0;

	for (int i = 0; i < len && j < (int) sizeof(clean) - 1; i++)
		if (isalnum((unsigned char) name[i]))
			clean[j++] = pg_tolower((unsigned char) name[i]);
	clean[j] = '\0';

	if (strcmp(clean, "utf8") == 0)
		return PG_UTF8;
	if (strcmp(clean, "sjis") == 0 || strcmp(clean, "shiftjis") == 0 ||
		strcmp(clean, "cp932") == 0 || strcmp(clean, "windows31j") == 0 ||
		strcmp(clean, "win932") == 0 || strcmp(clean, "windows932") == 0 ||
		strcmp(clean, "mskanji") == 0)
		return PG_SJIS;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unsupported CSV encoding \"%.*s\"", len, name),
			 errhint("Use \"UTF8\" (the default) or \"SJIS\" (Shift_JIS / CP932, what Excel saves as \"CSV (コンマ区切り)\").")));
	return -1;					/* keep the compiler quiet */
}

/*
 * Read the options.  "encoding" and "operator" are the upload's own; for the
 * import, the job options of run_bulk (request_key, source, async) are also
 * accepted here and checked by run_bulk itself, so that a misspelt option
 * is rejected before the file is read.
 */
static UploadOptions
parse_upload_options(Jsonb *options, bool for_import)
{
	UploadOptions opts = {PG_UTF8, NULL};
	JsonbIterator *it;
	JsonbValue	v;
	char	   *name;

	if (options == NULL)
		return opts;
	it = bulk_object_iterator(options, "options");
	while (bulk_object_next(&it, &name, &v))
	{
		if (strcmp(name, "encoding") == 0)
		{
			if (v.type != jbvString)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"encoding\" must be text"),
						 errhint("Use \"UTF8\" (the default) or \"SJIS\".")));
			opts.encoding = parse_encoding_name(v.val.string.val, v.val.string.len);
		}
		else if (strcmp(name, "operator") == 0)
		{
			opts.operator_name = bulk_option_text(name, &v);
		}
		else if (for_import && (strcmp(name, "request_key") == 0 ||
								strcmp(name, "source") == 0))
		{
			/* run_bulk checks them in full; the type here, before the file */
			if (v.type != jbvNull && v.type != jbvString)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"%s\" must be text", name)));
		}
		else if (for_import && strcmp(name, "async") == 0)
		{
			if (v.type != jbvBool)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"async\" must be a boolean")));
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown option \"%s\"", name),
					 for_import ?
					 errhint("The options are encoding, operator, request_key, source and async.") :
					 errhint("The options are encoding and operator.")));
	}
	return opts;
}

/* ------------------------------------------------------------------------
 * Field normalisation.  Fields come from COPY in the server encoding; the
 * work is done in UTF-8 (a no-op conversion on a UTF8 database).
 * ------------------------------------------------------------------------
 */

/* bytes of a space at p (ASCII space or tab, U+00A0, U+3000), else 0 */
static inline int
space_len(const unsigned char *p, const unsigned char *end)
{
	if (p < end && (*p == ' ' || *p == '\t'))
		return 1;
	if (end - p >= 2 && p[0] == 0xC2 && p[1] == 0xA0)
		return 2;
	if (end - p >= 3 && p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80)
		return 3;
	return 0;
}

/* bytes of a full-width ASCII form (U+FF01..U+FF5E) at p, its ASCII in *c */
static inline int
fullwidth_len(const unsigned char *p, const unsigned char *end, char *c)
{
	if (end - p >= 3 && p[0] == 0xEF)
	{
		if (p[1] == 0xBC && p[2] >= 0x81 && p[2] <= 0xBF)
		{
			*c = (char) (p[2] - 0x81 + 0x21);	/* U+FF01..U+FF3F */
			return 3;
		}
		if (p[1] == 0xBD && p[2] >= 0x80 && p[2] <= 0x9E)
		{
			*c = (char) (p[2] - 0x80 + 0x60);	/* U+FF40..U+FF5E */
			return 3;
		}
	}
	return 0;
}

static char *
to_utf8(const char *s, int *len)
{
	char	   *u = pg_server_to_any(s, *len, PG_UTF8);

	if (u != s)
		*len = strlen(u);
	return u;
}

/* Trim spaces around [*start, *end). */
static void
trim_spaces(const unsigned char **start, const unsigned char **end)
{
	int			n;

	while (*start < *end && (n = space_len(*start, *end)) > 0)
		*start += n;
	/* trailing: test the three widths that can end at *end */
	for (;;)
	{
		if (*end - *start >= 1 && ((*end)[-1] == ' ' || (*end)[-1] == '\t'))
			*end -= 1;
		else if (*end - *start >= 2 && (*end)[-2] == 0xC2 && (*end)[-1] == 0xA0)
			*end -= 2;
		else if (*end - *start >= 3 && (*end)[-3] == 0xE3 && (*end)[-2] == 0x80 && (*end)[-1] == 0x80)
			*end -= 3;
		else
			break;
	}
}

/*
 * A field as UTF-8 with the spaces around it trimmed, in [*start, *end);
 * false when the field is NULL or nothing but spaces.
 */
static bool
trimmed_utf8(const char *field, const unsigned char **start, const unsigned char **end)
{
	int			len;
	char	   *u;

	if (field == NULL)
		return false;
	len = strlen(field);
	u = to_utf8(field, &len);
	*start = (const unsigned char *) u;
	*end = *start + len;
	trim_spaces(start, end);
	return *start < *end;
}

static bool
field_is_blank(const char *field)
{
	const unsigned char *p,
			   *end;

	return !trimmed_utf8(field, &p, &end);
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

/* ------------------------------------------------------------------------
 * Cells as spreadsheets write them (SPEC §5 "Keys as spreadsheets write
 * them").  Pure functions of a cell's text, kept together so that they can
 * move to a file of their own: no SPI, no catalog, no COPY state.
 *
 * A cell is first folded: the spaces around it trimmed, the full-width
 * ASCII forms (１２３ ， ． ＇ ＝ ＂ Ｅ ＋) replaced by ASCII.  Then:
 *
 *  - a formula error (#N/A, #VALUE!, #REF!, #DIV/0!, #NAME?, #NUM!, #NULL!,
 *    the newer #SPILL!, #CALC! and #GETTING_DATA, LibreOffice's Err:nnn) is
 *    reported as such, so that the operator is told to fix the formula;
 *  - one wrapper that makes a cell text is removed: a leading apostrophe
 *    ('118536) or the text formula ="118536".  COPY gives the text formula
 *    as ="118536" when the file quotes the field ("=""118536""") and as
 *    =118536 when the file has it bare (="118536"), since in CSV a quote
 *    may open in the middle of a field and is then dropped.  The bare form
 *    is taken only when what follows "=" is a plain value (letters, digits,
 *    "-", "." and ",", a sign only after E), so that a real formula such
 *    as =A1+1 is never read as its text;
 *  - what is left is read as a number: digits, optionally in thousands
 *    groups (1 to 3 digits not starting with 0, then groups of exactly 3),
 *    then optionally "." and a fraction; or scientific notation: digits,
 *    optionally "." and digits (the mantissa), E or e, an optional sign
 *    and the exponent's digits.
 *
 * Scientific notation is exact only when its mantissa carries every digit
 * of the integer.  With f digits after the point and exponent e, the
 * integer needs e - f digits more than the mantissa wrote: when e > f they
 * are zeros the spreadsheet invented.  A cell holding 118,975 shown as
 * 1.19E+05 (General format, as many digits as fit the column) is saved as
 * 1.19E+05, and nothing in the file says what the digits were: that is
 * SHEET_ROUNDED, never a guess.  1.18521E+05 (f = 5, e = 5) is exactly
 * 118521; when e < f the last f - e digits are a fraction and must be zeros
 * (1.185210E+05 = 118521, 1.185215E+05 is not an integer).
 * ------------------------------------------------------------------------
 */
typedef enum SheetKind
{
	SHEET_INTEGER,				/* an integer; its digits are the output */
	SHEET_ROUNDED,				/* scientific notation that lost digits */
	SHEET_FRACTION,				/* a number whose fraction is not zero */
	SHEET_BAD_GROUPING,			/* digits and commas not in groups of 3 */
	SHEET_FORMULA_ERROR,		/* #N/A, #VALUE!, ... */
	SHEET_TEXT					/* anything else */
} SheetKind;

/*
 * Fold a trimmed UTF-8 cell into out: full-width ASCII forms to ASCII, an
 * ideographic space to a space, every other byte as it is.  Returns true
 * when the result is all ASCII.
 */
static bool
sheet_fold(const unsigned char *p, const unsigned char *end, StringInfo out)
{
	bool		ascii = true;

	while (p < end)
	{
		char		c;
		int			n = fullwidth_len(p, end, &c);

		if (n > 0)
		{
			appendStringInfoChar(out, c);
			p += n;
		}
		else if (p[0] == 0xE3 && end - p >= 3 && p[1] == 0x80 && p[2] == 0x80)
		{
			appendStringInfoChar(out, ' ');
			p += 3;
		}
		else
		{
			ascii &= (*p < 0x80);
			appendStringInfoChar(out, (char) *p++);
		}
	}
	return ascii;
}

/* The error values Excel and LibreOffice write for a failed formula. */
static bool
sheet_is_formula_error(const char *s, int len)
{
	static const char *const errors[] = {
		"#N/A", "#VALUE!", "#REF!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!",
		"#SPILL!", "#CALC!", "#GETTING_DATA"
	};

	for (int i = 0; i < lengthof(errors); i++)
		if (len == strlen(errors[i]) && pg_strncasecmp(s, errors[i], len) == 0)
			return true;
	/* LibreOffice: Err:502 and the like */
	if (len == 7 && pg_strncasecmp(s, "Err:", 4) == 0 &&
		isdigit((unsigned char) s[4]) && isdigit((unsigned char) s[5]) &&
		isdigit((unsigned char) s[6]))
		return true;
	return false;
}

/* letters, digits, "-", "." and ",", and a sign right after E or e */
static bool
sheet_plain_value(const char *s, int len)
{
	if (len == 0)
		return false;
	for (int i = 0; i < len; i++)
	{
		char		c = s[i];

		if (isalnum((unsigned char) c) || c == '-' || c == '.' || c == ',')
			continue;
		if (c == '+' && i > 0 && (s[i - 1] == 'E' || s[i - 1] == 'e'))
			continue;
		return false;
	}
	return true;
}

/* Drop one text wrapper: a leading apostrophe, or ="..." (see above). */
static void
sheet_unwrap(const char **s, int *len)
{
	const char *v = *s;
	int			n = *len;

	if (n >= 1 && v[0] == '\'')
	{
		*s = v + 1;
		*len = n - 1;
	}
	else if (n >= 3 && v[0] == '=' && v[1] == '"' && v[n - 1] == '"' &&
			 memchr(v + 2, '"', n - 3) == NULL)
	{
		*s = v + 2;
		*len = n - 3;
	}
	else if (n >= 2 && v[0] == '=' && sheet_plain_value(v + 1, n - 1))
	{
		*s = v + 1;
		*len = n - 1;
	}
}

/* Thousands groups of s[0..len): "1,234", "12,345,678"; never "0,123". */
static bool
sheet_groups_ok(const char *s, int len)
{
	int			first = 0;

	while (first < len && s[first] != ',')
		first++;
	if (first < 1 || first > 3 || s[0] == '0')
		return false;
	for (int i = first; i < len; i += 4)
	{
		if (len - i < 4 || s[i] != ',' ||
			!isdigit((unsigned char) s[i + 1]) || !isdigit((unsigned char) s[i + 2]) ||
			!isdigit((unsigned char) s[i + 3]))
			return false;
	}
	return true;
}

/*
 * Read s[0..len) as a number.  SHEET_INTEGER leaves the integer's digits
 * (leading zeros kept) in digits; *scientific tells whether the cell was a
 * well-formed number in scientific notation, exact or not.
 */
static SheetKind
sheet_number(const char *s, int len, StringInfo digits, bool *scientific)
{
	int			i = 0;
	int			int_end;
	int			frac_start = 0;
	int			frac_len = 0;
	bool		commas = false;
	bool		point = false;
	bool		sci = false;
	int			exponent = 0;

	*scientific = false;
	resetStringInfo(digits);
	while (i < len && (isdigit((unsigned char) s[i]) || s[i] == ','))
		commas |= (s[i++] == ',');
	int_end = i;
	if (i < len && s[i] == '.')
	{
		point = true;
		frac_start = ++i;
		while (i < len && isdigit((unsigned char) s[i]))
			i++;
		frac_len = i - frac_start;
	}
	if (i < len && (s[i] == 'E' || s[i] == 'e') && !commas && int_end > 0)
	{
		bool		negative = false;
		int			exp_start;

		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			negative = (s[i++] == '-');
		exp_start = i;
		while (i < len && isdigit((unsigned char) s[i]))
		{
			if (exponent < 100000)	/* far beyond any bigint; no overflow */
				exponent = exponent * 10 + (s[i] - '0');
			i++;
		}
		if (i == exp_start)
			return SHEET_TEXT;
		if (negative)
			exponent = -exponent;
		sci = true;
	}
	if (i != len || int_end == 0 || (point && frac_len == 0))
		return SHEET_TEXT;

	if (sci)
	{
		/* the mantissa's digits are s[0..int_end) then the fraction's */
		int			ndigits = int_end + frac_len;
		int			keep = int_end + exponent;	/* the integer's digits */

		*scientific = true;
		if (exponent > frac_len)
			return SHEET_ROUNDED;
		for (int k = 0; k < ndigits; k++)
		{
			char		c = k < int_end ? s[k] : s[frac_start + k - int_end];

			if (k < keep)
				appendStringInfoChar(digits, c);
			else if (c != '0')
				return SHEET_FRACTION;
		}
		if (digits->len == 0)
			appendStringInfoChar(digits, '0');
		return SHEET_INTEGER;
	}

	if (commas && !sheet_groups_ok(s, int_end))
		return SHEET_BAD_GROUPING;
	for (int k = frac_start; k < frac_start + frac_len; k++)
		if (s[k] != '0')
			return SHEET_FRACTION;
	for (int k = 0; k < int_end; k++)
		if (s[k] != ',')
			appendStringInfoChar(digits, s[k]);
	return SHEET_INTEGER;
}

/* Decimal digits as a bigint; false beyond it. */
static bool
sheet_digits_to_int64(const char *d, int len, int64 *value)
{
	uint64		v = 0;

	if (len == 0)
		return false;
	for (int i = 0; i < len; i++)
	{
		int			digit = d[i] - '0';

		if (v > ((uint64) PG_INT64_MAX - digit) / 10)
			return false;
		v = v * 10 + digit;
	}
	*value = (int64) v;
	return true;
}

/*
 * A folded key cell (column A): SHEET_INTEGER with *key set, or why it is
 * none.  An integer beyond bigint is text (not a number).
 */
static SheetKind
sheet_key(const char *s, int len, int64 *key)
{
	StringInfoData digits;
	bool		scientific;
	SheetKind	kind;

	if (sheet_is_formula_error(s, len))
		return SHEET_FORMULA_ERROR;
	sheet_unwrap(&s, &len);
	initStringInfo(&digits);
	kind = sheet_number(s, len, &digits, &scientific);
	if (kind == SHEET_INTEGER && !sheet_digits_to_int64(digits.data, digits.len, key))
		kind = SHEET_TEXT;
	pfree(digits.data);
	return kind;
}

/*
 * A folded tracking number cell (column B of the import): the tracking
 * number, or NULL when there is none (empty, or a formula error: the lookup
 * that should have given it failed).  *rounded when it is in scientific
 * notation, exact or not: a tracking number is an identifier of 10 to 14
 * digits that a spreadsheet writes in scientific notation only once it has
 * turned it into a number, which drops its leading zeros, and Excel keeps 6
 * significant digits of a 12-digit number in General format.  A number in
 * thousands groups or with a zero fraction is its digits; anything else is
 * kept as written, without its text wrapper.
 */
static char *
sheet_tracking_no(const char *s, int len, bool *rounded)
{
	StringInfoData digits;
	bool		scientific;
	SheetKind	kind;

	*rounded = false;
	if (sheet_is_formula_error(s, len))
		return NULL;
	sheet_unwrap(&s, &len);
	if (len == 0)
		return NULL;
	initStringInfo(&digits);
	kind = sheet_number(s, len, &digits, &scientific);
	if (scientific)
		*rounded = true;
	else if (kind == SHEET_INTEGER)
		return digits.data;
	pfree(digits.data);
	return pnstrdup(s, len);
}

/* The likely spreadsheet cause of a not_a_number, as upload_lines.cause. */
static const char *
sheet_cause(SheetKind kind)
{
	switch (kind)
	{
		case SHEET_FRACTION:
			return "fraction";
		case SHEET_BAD_GROUPING:
			return "grouping";
		case SHEET_FORMULA_ERROR:
			return "formula_error";
		default:
			return NULL;
	}
}

/* ------------------------------------------------------------------------
 * Columns A and B of a record, as COPY gives them
 * ------------------------------------------------------------------------
 */

/*
 * Column A as a key: SHEET_INTEGER with *key set, else what it is.  Plain
 * digits (ASCII or full-width), the common case, are read without folding.
 */
static SheetKind
parse_key(const char *field, int64 *key)
{
	const unsigned char *p,
			   *end;
	const unsigned char *start;
	uint64		value = 0;
	StringInfoData buf;

	if (!trimmed_utf8(field, &p, &end))
		return SHEET_TEXT;
	start = p;
	while (p < end)
	{
		char		c = *p;
		int			n = 1;

		if (*p >= 0x80)
			n = fullwidth_len(p, end, &c);
		if (n == 0 || c < '0' || c > '9')
			break;
		if (value > ((uint64) PG_INT64_MAX - (c - '0')) / 10)
			return SHEET_TEXT;	/* beyond bigint */
		value = value * 10 + (c - '0');
		p += n;
	}
	if (p == end)
	{
		*key = (int64) value;
		return SHEET_INTEGER;
	}

	initStringInfo(&buf);
	if (!sheet_fold(start, end, &buf))
		return SHEET_TEXT;		/* more than ASCII and its full-width forms */
	return sheet_key(buf.data, buf.len, key);
}

/* Keep at most CSV_KEEP_CHARS characters of a server-encoded string. */
static char *
clip_chars(const char *s, int len)
{
	int			keep = pg_mbcharcliplen(s, len, CSV_KEEP_CHARS);

	return pnstrdup(s, keep);
}

/* Column A as written, spaces trimmed, for the message of its error. */
static char *
field_display(const char *field)
{
	const unsigned char *p,
			   *end;
	char	   *server;

	if (!trimmed_utf8(field, &p, &end))
		return NULL;
	server = pg_any_to_server((const char *) p, end - p, PG_UTF8);
	return clip_chars(server, strlen(server));
}

/*
 * Column B as a tracking number: full-width letters, digits and signs
 * folded to ASCII, spaces around dropped, then read as a spreadsheet cell
 * (sheet_tracking_no); NULL when there is none.  A rounded one is returned
 * as written, with *rounded set.
 */
static char *
normalize_tracking_no(const char *field, bool *rounded)
{
	const unsigned char *p,
			   *end;
	char	   *tracking;
	char	   *server;
	StringInfoData buf;

	*rounded = false;
	if (!trimmed_utf8(field, &p, &end))
		return NULL;
	initStringInfo(&buf);
	sheet_fold(p, end, &buf);
	tracking = sheet_tracking_no(buf.data, buf.len, rounded);
	if (tracking == NULL)
		return NULL;
	server = pg_any_to_server(tracking, strlen(tracking), PG_UTF8);
	return clip_chars(server, strlen(server));
}

/* ------------------------------------------------------------------------
 * The page a key must exist on
 * ------------------------------------------------------------------------
 */
typedef struct PageInfo
{
	char	   *table;
	char	   *key;
	char	   *visible;
} PageInfo;

static PageInfo
lookup_page(const char *page)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(page)};
	PageInfo	info;
	HeapTuple	tup;
	TupleDesc	desc;

	bulk_spi_exec("SELECT target_table, key_column, visible_condition"
				  " FROM bulkorder_catalog.pages WHERE page = $1",
				  1, argtypes, values, NULL, true, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown page \"%s\"", page),
				 errhint("%s", bulk_page_list_hint())));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	info.table = SPI_getvalue(tup, desc, 1);
	info.key = SPI_getvalue(tup, desc, 2);
	info.visible = SPI_getvalue(tup, desc, 3);
	return info;
}

/* ------------------------------------------------------------------------
 * Staging.  Memory is bounded whatever the file's length:
 *
 *  - while COPY reads the file, a line whose column A is not a number is
 *    staged at once (a batch at a time); a line with a key goes into a
 *    tuplesort by (key, line), which spills to disk beyond work_mem;
 *  - then the sorted stream is read a batch at a time: within a run of one
 *    key the first line is the key's, the later ones are duplicate_key; and
 *    one statement per batch checks the batch's keys against the page's
 *    table and stages its lines.  The batch's keys are passed as constants,
 *    so the planner knows their number and range and picks index probes for
 *    a few keys and a range scan for a dense million.
 * ------------------------------------------------------------------------
 */
typedef struct CsvBatch
{
	int			n;
	Datum	   *line_nos;
	Datum	   *keys;
	Datum	   *first_lines;
	bool	   *first_line_nulls;
	Datum	   *values;
	bool	   *value_nulls;
	Datum	   *trackings;
	bool	   *tracking_nulls;
	Datum	   *codes;			/* lines without a key: their error_code */
	Datum	   *causes;			/* ... and its likely spreadsheet cause */
	bool	   *cause_nulls;
	Datum	   *rounded;		/* lines with a key: column B is rounded */
} CsvBatch;

typedef struct CsvParse
{
	int64		upload_id;
	bool		with_tracking;	/* the import: keep column B */
	PageInfo   *page;			/* check keys against it; NULL: do not */

	/* where the parse is: for error messages */
	int			record_line;	/* line where the current record starts */
	int			last_record_line;	/* line where the last record started */

	/* what the file held */
	int			line_count;
	int			blank_count;
	int			key_lines;		/* lines whose column A is a number */
	int			keyless;		/* lines whose column A is not */
	int			valid_keys;		/* lines that gave a usable key */
	bool		header;

	MemoryContext batch_ctx;	/* the batch's values; reset after every batch */
	MemoryContext record_ctx;	/* one record's work; reset for every record */
	CsvBatch	batch;

	/* the lines with a key, sorted by (key, line) */
	TupleDesc	sort_desc;
	TupleTableSlot *put_slot;
	TupleTableSlot *get_slot;
	Tuplesortstate *sort;
} CsvParse;

static void
batch_init(CsvBatch *b)
{
	b->n = 0;
	b->line_nos = palloc(sizeof(Datum) * CSV_BATCH_LINES);
	b->keys = palloc(sizeof(Datum) * CSV_BATCH_LINES);
	b->first_lines = palloc(sizeof(Datum) * CSV_BATCH_LINES);
	b->first_line_nulls = palloc(sizeof(bool) * CSV_BATCH_LINES);
	b->values = palloc(sizeof(Datum) * CSV_BATCH_LINES);
	b->value_nulls = palloc(sizeof(bool) * CSV_BATCH_LINES);
	b->trackings = palloc(sizeof(Datum) * CSV_BATCH_LINES);
	b->tracking_nulls = palloc(sizeof(bool) * CSV_BATCH_LINES);
	b->codes = palloc(sizeof(Datum) * CSV_BATCH_LINES);
	b->causes = palloc(sizeof(Datum) * CSV_BATCH_LINES);
	b->cause_nulls = palloc(sizeof(bool) * CSV_BATCH_LINES);
	b->rounded = palloc(sizeof(Datum) * CSV_BATCH_LINES);
}

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
 * Stage the batch of lines whose column A gave no key: not_a_number (with
 * the likely spreadsheet cause, when there is one) or rounded_number.
 */
static void
flush_keyless(CsvParse *st)
{
	CsvBatch   *b = &st->batch;
	Oid			types[6] = {INT8OID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID};
	Datum		args[6];
	MemoryContext old;

	if (b->n == 0)
		return;
	old = MemoryContextSwitchTo(st->batch_ctx);
	args[0] = Int64GetDatum(st->upload_id);
	args[1] = int4_array(b->line_nos, b->n);
	args[2] = nullable_array(b->values, b->value_nulls, b->n, TEXTOID);
	args[3] = nullable_array(b->trackings, b->tracking_nulls, b->n, TEXTOID);
	args[4] = nullable_array(b->codes, NULL, b->n, TEXTOID);
	args[5] = nullable_array(b->causes, b->cause_nulls, b->n, TEXTOID);
	bulk_spi_exec("INSERT INTO bulkorder.upload_lines"
				  " (upload_id, line_no, value, tracking_no, error_code, cause)"
				  " SELECT $1, u.line_no, u.value, u.tracking_no, u.error_code, u.cause"
				  " FROM unnest($2, $3, $4, $5, $6) AS u(line_no, value, tracking_no, error_code, cause)",
				  6, types, args, NULL, false, SPI_OK_INSERT);
	MemoryContextSwitchTo(old);
	b->n = 0;
	MemoryContextReset(st->batch_ctx);
}

/*
 * Stage a batch of lines with a key, sorted by key: check the batch's
 * distinct keys against the page in the same statement.  A key unknown to
 * the page is not_found on every line giving it; a line of the import whose
 * tracking number is rounded is rounded_number (the import's rule of that
 * name then fails its order); a repeat of a known key is duplicate_key with
 * the key's first line.
 */
static void
flush_keys(CsvParse *st)
{
	CsvBatch   *b = &st->batch;
	Oid			types[8] = {INT8OID, INT4ARRAYOID, INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID,
	INT8OID, INT8OID, BOOLARRAYOID};
	Datum		args[8];
	char	   *found;
	char	   *join;
	char	   *sql;
	bool		isnull;
	MemoryContext old;

	if (b->n == 0)
		return;
	old = MemoryContextSwitchTo(st->batch_ctx);
	args[0] = Int64GetDatum(st->upload_id);
	args[1] = int4_array(b->line_nos, b->n);
	args[2] = nullable_array(b->keys, NULL, b->n, INT8OID);
	args[3] = nullable_array(b->first_lines, b->first_line_nulls, b->n, INT4OID);
	args[4] = nullable_array(b->trackings, b->tracking_nulls, b->n, TEXTOID);
	args[5] = b->keys[0];		/* sorted: the batch's range */
	args[6] = b->keys[b->n - 1];
	args[7] = nullable_array(b->rounded, NULL, b->n, BOOLOID);
	if (st->page)
	{
		const char *key = quote_identifier(st->page->key);

		found = psprintf("t.%s IS NOT NULL", key);
		join = psprintf(" LEFT JOIN %s AS t ON t.%s = u.key AND t.%s BETWEEN $6 AND $7 AND (%s)",
						st->page->table, key, key, st->page->visible);
	}
	else
	{
		found = "true";
		join = "";
	}
	sql = psprintf("WITH staged AS ("
				   " INSERT INTO bulkorder.upload_lines"
				   " (upload_id, line_no, key, tracking_no, error_code, first_line)"
				   " SELECT $1, u.line_no, u.key, u.tracking_no, e.code,"
				   "  CASE WHEN e.code = 'duplicate_key' THEN u.first_line END"
				   " FROM unnest($2, $3, $4, $5, $8)"
				   "  AS u(line_no, key, first_line, tracking_no, rounded)%s"
				   " CROSS JOIN LATERAL (SELECT CASE WHEN NOT (%s) THEN 'not_found'"
				   "  WHEN u.rounded THEN 'rounded_number'"
				   "  WHEN u.first_line IS NOT NULL THEN 'duplicate_key' END AS code) e"
				   " RETURNING error_code)"
				   " SELECT count(*) FILTER (WHERE error_code IS NULL) FROM staged",
				   join, found);
	/* one-shot plan: the arrays are constants to the planner */
	bulk_spi_exec(sql, 8, types, args, NULL, false, SPI_OK_SELECT);
	st->valid_keys += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	MemoryContextSwitchTo(old);
	b->n = 0;
	MemoryContextReset(st->batch_ctx);
}

/*
 * One record of the file, COPY's raw fields.  Runs in the SPI procedure
 * context and leaves it current.
 */
static void
stage_record(CsvParse *st, char **fields, int nfields)
{
	CsvBatch   *b = &st->batch;
	int			line_no = st->record_line;
	int			breaks = 0;
	bool		blank = true;
	int64		key = 0;
	SheetKind	kind;
	char	   *tracking = NULL;
	bool		rounded_tracking = false;
	char	   *shown;
	const char *cause;
	MemoryContext proc = CurrentMemoryContext;

	MemoryContextReset(st->record_ctx);
	MemoryContextSwitchTo(st->record_ctx);

	st->last_record_line = line_no;
	for (int i = 0; i < nfields; i++)
	{
		breaks += count_breaks(fields[i]);
		if (blank && !field_is_blank(fields[i]))
			blank = false;
	}
	st->record_line = line_no + 1 + breaks;

	/* blank lines (also Excel's ",,,") are skipped, and still counted */
	if (blank)
	{
		st->blank_count++;
		MemoryContextSwitchTo(proc);
		return;
	}

	kind = parse_key(fields[0], &key);

	/*
	 * The first line with content is a header when its column A is text: not
	 * a number in any form a spreadsheet writes, nor a broken one (10.5,
	 * 1,23, 1.19E+05, #N/A), which is a data line that needs fixing.
	 */
	if (!st->header && st->key_lines == 0 && st->keyless == 0 && kind == SHEET_TEXT)
	{
		st->header = true;
		MemoryContextSwitchTo(proc);
		return;
	}

	if (st->with_tracking && nfields > 1)
		tracking = normalize_tracking_no(fields[1], &rounded_tracking);

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
		slot->tts_values[3] = BoolGetDatum(rounded_tracking);
		slot->tts_isnull[3] = false;
		ExecStoreVirtualTuple(slot);
		tuplesort_puttupleslot(st->sort, slot);
		MemoryContextSwitchTo(proc);
		return;
	}

	/* no key: staged at once, a batch at a time */
	shown = field_display(fields[0]);
	cause = sheet_cause(kind);
	st->keyless++;
	MemoryContextSwitchTo(st->batch_ctx);
	b->line_nos[b->n] = Int32GetDatum(line_no);
	b->codes[b->n] = CStringGetTextDatum(kind == SHEET_ROUNDED ? "rounded_number" : "not_a_number");
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
 * Read the file with COPY.  A COPY error (bad bytes, an unterminated quoted
 * field, mixed line endings) is re-raised with its SQLSTATE and the line
 * where the failing record starts.
 */
static void
read_file(CsvParse *st, const char *data, size_t len, int encoding)
{
	MemoryContext caller = CurrentMemoryContext;
	CsvSource	src = {data, len, 0, NULL, &st->record_line};
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

	current_source = &src;
	PG_TRY();
	{
		CopyFromState cstate = BeginCopyFrom(NULL, rel, NULL, NULL, false,
											 csv_source_read, NIL, copy_options);
		char	  **fields;
		int			nfields;
		bool		left;
		bool		marker_broken;

		src.cstate = cstate;
		for (;;)
		{
			CHECK_FOR_INTERRUPTS();
			if (!NextCopyFromRawFields(cstate, &fields, &nfields))
				break;
			/* the exact bound, whatever COPY read in one go */
			check_record_width(cstate, 0, st->record_line);
			stage_record(st, fields, nfields);
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
				st->record_line = st->last_record_line;
			ereport(ERROR,
					(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
					 errmsg("a line holding only \\. (COPY's end-of-data marker) is not allowed in a CSV upload"),
					 errhint("Remove that line, or quote it (\"\\.\").")));
		}
		src.cstate = NULL;
		EndCopyFrom(cstate);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		current_source = NULL;
		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION)
			PG_RE_THROW();
		FlushErrorState();
		edata->message = psprintf("CSV line %d: %s", st->record_line, edata->message);
		if (edata->detail == NULL)
			edata->detail = pstrdup("The file was rejected and nothing of it was kept.");
		if (edata->hint == NULL &&
			(edata->sqlerrcode == ERRCODE_CHARACTER_NOT_IN_REPERTOIRE ||
			 edata->sqlerrcode == ERRCODE_UNTRANSLATABLE_CHARACTER))
			edata->hint = pstrdup(encoding == PG_SJIS ?
								  "The file is not valid Shift_JIS (CP932): if it was saved as UTF-8, upload it with options {\"encoding\": \"UTF8\"}." :
								  "The file is not valid UTF-8: a file saved by Excel as \"CSV (コンマ区切り)\" is Shift_JIS; upload it with options {\"encoding\": \"SJIS\"}.");
		ReThrowError(edata);
	}
	PG_END_TRY();
	current_source = NULL;
	table_close(rel, NoLock);
	st->line_count = st->record_line - 1;
}

/* Parse the whole file into bulkorder.upload_lines for st->upload_id. */
static void
stage_file(CsvParse *st, const char *data, size_t len, int encoding)
{
	CsvBatch   *b = &st->batch;
	AttrNumber	sort_cols[2] = {1, 2};
	Oid			sort_ops[2] = {Int8LessOperator, Int4LessOperator};
	Oid			sort_colls[2] = {InvalidOid, InvalidOid};
	bool		nulls_first[2] = {false, false};
	bool		have_prev = false;
	int64		prev_key = 0;
	int			first_line = 0;

	st->batch_ctx = AllocSetContextCreate(CurrentMemoryContext, "bulkorder CSV batch",
										  ALLOCSET_DEFAULT_SIZES);
	st->record_ctx = AllocSetContextCreate(CurrentMemoryContext, "bulkorder CSV record",
										   ALLOCSET_DEFAULT_SIZES);
	batch_init(b);
	st->record_line = 1;
	st->sort_desc = CreateTemplateTupleDesc(4);
	TupleDescInitEntry(st->sort_desc, 1, "key", INT8OID, -1, 0);
	TupleDescInitEntry(st->sort_desc, 2, "line_no", INT4OID, -1, 0);
	TupleDescInitEntry(st->sort_desc, 3, "tracking_no", TEXTOID, -1, 0);
	TupleDescInitEntry(st->sort_desc, 4, "rounded", BOOLOID, -1, 0);
	st->put_slot = MakeSingleTupleTableSlot(st->sort_desc, &TTSOpsVirtual);
	st->get_slot = MakeSingleTupleTableSlot(st->sort_desc, &TTSOpsMinimalTuple);
	st->sort = tuplesort_begin_heap(st->sort_desc, 2, sort_cols, sort_ops, sort_colls,
									nulls_first, work_mem, NULL, TUPLESORT_NONE);

	read_file(st, data, len, encoding);
	flush_keyless(st);

	tuplesort_performsort(st->sort);
	for (;;)
	{
		TupleTableSlot *slot = st->get_slot;
		int64		key;
		int			line_no;
		bool		isnull;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(st->batch_ctx);
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
		b->rounded[b->n] = slot_getattr(slot, 4, &isnull);
		b->n++;
		have_prev = true;
		prev_key = key;
		ExecClearTuple(slot);
		MemoryContextSwitchTo(old);
		if (b->n == CSV_BATCH_LINES)
			flush_keys(st);
	}
	flush_keys(st);

	tuplesort_end(st->sort);
	ExecDropSingleTupleTableSlot(st->put_slot);
	ExecDropSingleTupleTableSlot(st->get_slot);
	MemoryContextDelete(st->batch_ctx);
	MemoryContextDelete(st->record_ctx);
}

static int64
insert_upload(const char *page, const char *purpose, UploadOptions *opts, int64 file_size,
			  int encoding, bool bom)
{
	Oid			types[7] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, TEXTOID, BOOLOID};
	Datum		values[7];
	char		nulls[7] = "       ";
	bool		isnull;

	values[0] = CStringGetTextDatum(page);
	values[1] = CStringGetTextDatum(purpose);
	values[2] = CStringGetTextDatum(GetUserNameFromId(GetOuterUserId(), false));
	if (opts->operator_name)
		values[3] = CStringGetTextDatum(opts->operator_name);
	else
		nulls[3] = 'n';
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
	values[4] = Int32GetDatum(st->keyless + st->key_lines - st->valid_keys);
	values[5] = BoolGetDatum(st->header);
	bulk_spi_exec("UPDATE bulkorder.uploads SET line_count = $2, blank_line_count = $3,"
				  " key_count = $4, error_count = $5, has_header = $6"
				  " WHERE upload_id = $1",
				  6, types, values, NULL, false, SPI_OK_UPDATE);
}

/*
 * The bytes to parse: a UTF-8 byte order mark is dropped, and makes the
 * file UTF-8 whatever options.encoding says (no Shift_JIS file can begin
 * with those bytes, and Excel's "CSV UTF-8" always writes one).  A UTF-16
 * file (Excel's "Unicode text") is refused with a hint.
 */
static void
content_bytes(bytea *content, const char **data, size_t *len, int *encoding, bool *bom)
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
				 errdetail("The file was rejected and nothing of it was kept."),
				 errhint("Save it from Excel as \"CSV UTF-8 (コンマ区切り)\" or \"CSV (コンマ区切り)\".")));
	*data = (const char *) p;
	*len = n;
}

static bytea *
content_arg(FunctionCallInfo fcinfo, int argno)
{
	Size		size;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("content must not be NULL"),
				 errhint("Pass the file's bytes, e.g. decode(:'content', 'base64') in psql.")));

	/* the size as stored: a file over the limit is never detoasted */
	size = toast_raw_datum_size(PG_GETARG_DATUM(argno)) - VARHDRSZ;
	if (size > (Size) bulkorder_max_upload_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the file is %zu bytes, more than bulkorder.max_upload_bytes (%d bytes)",
						size, bulkorder_max_upload_bytes),
				 errdetail("ファイルが大きすぎるため(上限 %d バイト)、取り込まれていません。ファイルを分割してアップロードしてください。",
						   bulkorder_max_upload_bytes),
				 errhint("Split the file, or ask a superuser to raise bulkorder.max_upload_bytes.")));
	return PG_GETARG_BYTEA_PP(argno);
}

/* Parse content into a new upload; returns its id. */
static int64
upload(const char *page, const char *purpose, bytea *content, UploadOptions *opts,
	   PageInfo *check_page, bool with_tracking)
{
	CsvParse	st;
	const char *data;
	size_t		len;
	int			encoding = opts->encoding;
	bool		bom;

	bulk_check_installed_version();
	memset(&st, 0, sizeof(st));
	content_bytes(content, &data, &len, &encoding, &bom);
	st.upload_id = insert_upload(page, purpose, opts, VARSIZE_ANY_EXHDR(content), encoding, bom);
	st.with_tracking = with_tracking;
	st.page = check_page;
	stage_file(&st, data, len, encoding);
	record_counts(&st);
	return st.upload_id;
}

/*
 * upload_csv(page text, content bytea, options jsonb DEFAULT '{}') RETURNS bigint
 */
Datum
bulkorder_upload_csv(PG_FUNCTION_ARGS)
{
	char	   *page;
	bytea	   *content;
	UploadOptions opts;
	PageInfo	info;
	int64		upload_id;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("page must not be NULL")));
	page = text_to_cstring(PG_GETARG_TEXT_PP(0));
	content = content_arg(fcinfo, 1);
	opts = parse_upload_options(PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2), false);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "bulkorder: SPI_connect failed");
	info = lookup_page(page);
	upload_id = upload(page, "targets", content, &opts, &info, false);
	SPI_finish();
	PG_RETURN_INT64(upload_id);
}

/*
 * import_shipments(content bytea, options jsonb DEFAULT '{}') RETURNS bigint
 *
 * Stage the file as an upload of the shipments page, then run the
 * catalogued operation shipments/import_shipments over its order numbers
 * through run_bulk, with params {"upload_id": …}: the engine checks, locks,
 * applies and records every order, reading its tracking number from
 * bulkorder.upload_shipments.  Returns the job id.
 */
Datum
bulkorder_import_shipments(PG_FUNCTION_ARGS)
{
	bytea	   *content = content_arg(fcinfo, 0);
	Jsonb	   *options = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	UploadOptions opts = parse_upload_options(options, true);
	Oid			types[2] = {INT8OID, JSONBOID};
	Datum		values[2];
	char		nulls[2] = "  ";
	int64		upload_id;
	int64		job_id;
	int64		job_upload;
	bool		isnull;
	bytea	   *request_hash = NULL;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "bulkorder: SPI_connect failed");

	/* a request key already used: the first job's id, without reading the file */
	if (options)
	{
		JsonbValue	buf;
		JsonbValue *key = getKeyJsonValueFromContainer(&options->root, "request_key", 11, &buf);

		if (key && key->type == jbvString)
		{
			/* the request: the file and how to read it (jobs.c, "Request keys") */
			request_hash = bulk_request_hash_file("shipments", "import_shipments",
												  VARDATA_ANY(content),
												  VARSIZE_ANY_EXHDR(content), options);
			job_id = bulk_request_key_job("shipments",
										  pnstrdup(key->val.string.val, key->val.string.len),
										  request_hash);
			if (job_id != 0)
			{
				SPI_finish();
				PG_RETURN_INT64(job_id);
			}
		}
	}

	upload_id = upload("shipments", "import_shipments", content, &opts, NULL, true);
	values[0] = Int64GetDatum(upload_id);

	/*
	 * One row per order number: its first line and its tracking numbers.  A
	 * rounded tracking number is never one of them: the order fails with
	 * rounded_number (the operation's rule reads its line's error_code).
	 */
	bulk_spi_exec("INSERT INTO bulkorder.upload_shipments (upload_id, order_no, line_no, tracking_nos)"
				  " SELECT $1, l.key, min(l.line_no),"
				  "  coalesce(array_agg(DISTINCT l.tracking_no ORDER BY l.tracking_no)"
				  "           FILTER (WHERE l.tracking_no IS NOT NULL"
				  "                   AND l.error_code IS DISTINCT FROM 'rounded_number'), '{}')"
				  " FROM bulkorder.upload_lines l"
				  " WHERE l.upload_id = $1 AND l.key IS NOT NULL"
				  " GROUP BY l.key",
				  1, types, values, NULL, false, SPI_OK_INSERT);

	/* the job: run_bulk checks the job options and records everything */
	if (options)
		values[1] = JsonbPGetDatum(options);
	else
		nulls[1] = 'n';
	bulk_request_hash_override = request_hash;	/* the job records the file's */
	PG_TRY();
	{
		bulk_spi_exec("SELECT bulkorder.run_bulk('shipments', 'import_shipments',"
					  " (SELECT coalesce(array_agg(s.order_no ORDER BY s.line_no), '{}')"
					  "    FROM bulkorder.upload_shipments s WHERE s.upload_id = $1),"
					  " jsonb_build_object('upload_id', $1),"
					  " '{\"source\": \"csv\"}'::jsonb || (coalesce($2, '{}') - 'encoding'))",
					  2, types, values, nulls, false, SPI_OK_SELECT);
	}
	PG_FINALLY();
	{
		bulk_request_hash_override = NULL;
	}
	PG_END_TRY();
	job_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	values[1] = Int64GetDatum(job_id);
	types[1] = INT8OID;
	bulk_spi_exec("SELECT (params->>'upload_id')::bigint FROM bulkorder.bulk_jobs WHERE job_id = $2",
				  2, types, values, NULL, false, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "bulkorder: job %lld of the shipment import is missing", (long long) job_id);
	job_upload = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull || job_upload != upload_id)
	{
		/*
		 * The request key was used by a concurrent call that committed
		 * first: its job stands, this file is dropped.
		 */
		bulk_spi_exec("WITH u AS (DELETE FROM bulkorder.uploads WHERE upload_id = $1),"
					  " l AS (DELETE FROM bulkorder.upload_lines WHERE upload_id = $1)"
					  " DELETE FROM bulkorder.upload_shipments WHERE upload_id = $1",
					  1, types, values, NULL, false, SPI_OK_DELETE);
	}
	else
		bulk_spi_exec("UPDATE bulkorder.uploads SET job_id = $2 WHERE upload_id = $1",
					  2, types, values, NULL, false, SPI_OK_UPDATE);

	SPI_finish();
	PG_RETURN_INT64(job_id);
}
