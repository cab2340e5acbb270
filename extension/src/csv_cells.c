/*-------------------------------------------------------------------------
 *
 * csv_cells.c
 *	  Columns A and B of an uploaded CSV file's records, as COPY gives them:
 *	  trimmed, folded and read as a spreadsheet writes a cell
 *	  (csv_sheet.c), a key for column A, a tracking number for column B.
 *	  Pure functions of a field's text: no SPI, no catalog, no COPY state;
 *	  the staging (csv_stage.c) calls them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/unicode_norm.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"

#include "bulkorder_csv.h"

/* characters of a field kept for messages (column A) or the import (B) */
#define CSV_KEEP_CHARS 200

/* ------------------------------------------------------------------------
 * Field normalisation.  Fields come from COPY in the server encoding; the
 * work is done in UTF-8 (a no-op conversion on a UTF8 database).
 * ------------------------------------------------------------------------
 */

/*
 * Bytes of a character trimmed around every cell at p, else 0: the spaces
 * (ASCII space and tab, U+00A0, U+3000), line breaks (a cell's own, from
 * Alt+Enter or a pasted value) and the invisible characters a sheet picks
 * up from pasted text: U+FEFF (a BOM), U+200B..U+200D (zero-width space,
 * non-joiner, joiner) and U+2060 (word joiner).  None of them is ever part
 * of a key or a tracking number, and an operator cannot see them.
 */
static inline int
space_len(const unsigned char *p, const unsigned char *end)
{
	if (p >= end)
		return 0;
	if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		return 1;
	if (end - p >= 2 && p[0] == 0xC2 && p[1] == 0xA0)
		return 2;
	if (end - p >= 3)
	{
		if (p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80)
			return 3;			/* U+3000 */
		if (p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
			return 3;			/* U+FEFF */
		if (p[0] == 0xE2 && p[1] == 0x80 && p[2] >= 0x8B && p[2] <= 0x8D)
			return 3;			/* U+200B..U+200D */
		if (p[0] == 0xE2 && p[1] == 0x81 && p[2] == 0xA0)
			return 3;			/* U+2060 */
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

/* Trim spaces (space_len) around [*start, *end). */
static void
trim_spaces(const unsigned char **start, const unsigned char **end)
{
	int			n;

	while (*start < *end && (n = space_len(*start, *end)) > 0)
		*start += n;
	/* trailing: a character of 1, 2 or 3 bytes that ends at *end */
	for (;;)
	{
		int			w;

		for (w = 1; w <= 3; w++)
			if (*end - *start >= w && space_len(*end - w, *end) == w)
				break;
		if (w > 3)
			break;
		*end -= w;
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

bool
csv_field_is_blank(const char *field)
{
	const unsigned char *p,
			   *end;

	return !trimmed_utf8(field, &p, &end);
}

/*
 * Whether a field could be part of a number: it holds a digit (ASCII or
 * full-width) or a "#" (a formula error's).  A column name has neither.
 */
bool
csv_field_numberish(const char *field)
{
	const unsigned char *p,
			   *end;

	if (!trimmed_utf8(field, &p, &end))
		return false;
	for (; p < end; p++)
	{
		if ((*p >= '0' && *p <= '9') || *p == '#')
			return true;
		/* U+FF10..U+FF19, U+FF03 */
		if (end - p >= 3 && p[0] == 0xEF && p[1] == 0xBC &&
			((p[2] >= 0x90 && p[2] <= 0x99) || p[2] == 0x83))
			return true;
	}
	return false;
}

/* ------------------------------------------------------------------------
 * Columns A and B of a record, as COPY gives them
 * ------------------------------------------------------------------------
 */

/*
 * Column A as a key: SHEET_INTEGER with *key set, else what it is.  Plain
 * digits (ASCII or full-width), the common case, are read without folding.
 */
SheetKind
csv_parse_key(const char *field, int64 *key)
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
			return SHEET_OUT_OF_RANGE;
		value = value * 10 + (c - '0');
		p += n;
	}
	if (p == end)
	{
		*key = (int64) value;
		return SHEET_INTEGER;
	}

	initStringInfo(&buf);
	csv_sheet_fold(start, end, &buf);
	return csv_sheet_key(buf.data, buf.len, key);
}

/* Keep at most CSV_KEEP_CHARS characters of a server-encoded string. */
static char *
clip_chars(const char *s, int len)
{
	int			keep = pg_mbcharcliplen(s, len, CSV_KEEP_CHARS);

	return pnstrdup(s, keep);
}

/* Column A as written, spaces trimmed, for the message of its error. */
char *
csv_field_display(const char *field)
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
 * NFKC of a UTF-8 string, when that is all ASCII (every tracking number
 * carriers issue is); else NULL, and the caller keeps the string as it is.
 * A character NFKC leaves outside ASCII makes the cell no tracking number
 * whatever the rest, and it is shown to the operator as written.  Never
 * producing anything but ASCII also means that the result converts to any
 * database encoding.
 */
static char *
nfkc_ascii(const char *s, int len, int *outlen)
{
	pg_wchar   *wide = palloc((len + 1) * sizeof(pg_wchar));
	int			n = pg_encoding_mb2wchar_with_len(PG_UTF8, s, wide, len);
	pg_wchar   *norm;
	char	   *out;
	int			i;

	wide[n] = 0;
	norm = unicode_normalize(UNICODE_NFKC, wide);
	for (i = 0; norm[i] != 0; i++)
		if (norm[i] >= 0x80)
			return NULL;
	out = palloc(i + 1);
	for (i = 0; norm[i] != 0; i++)
		out[i] = (char) norm[i];
	out[i] = '\0';
	*outlen = i;
	return out;
}

/*
 * Column B as a tracking number (docs/csv.md, tracking numbers as
 * carriers issue them): spaces, line breaks and invisible characters around it
 * dropped, full-width forms and dash look-alikes folded to ASCII (and NFKC,
 * for the full-width forms outside ASCII's block), then read as a
 * spreadsheet cell (csv_sheet_tracking_no).  NULL when there is none.  A
 * cell refused for what the spreadsheet did to it is returned as written,
 * with *refusal its error code; the carrier's format is judged later, by
 * csv_tracking_check (csv_tracking.c), against the order's delivery
 * method.  The result depends only on the characters of the cell, never on
 * the file's encoding: the same sheet gives the same tracking number from
 * UTF-8 and from Shift_JIS.
 */
char *
csv_tracking_no(const char *field, const char **refusal)
{
	const unsigned char *p,
			   *end;
	char	   *tracking;
	char	   *server;
	StringInfoData buf;

	*refusal = NULL;
	if (!trimmed_utf8(field, &p, &end))
		return NULL;
	initStringInfo(&buf);
	csv_sheet_fold(p, end, &buf);
	for (int i = 0; i < buf.len; i++)
	{
		if ((unsigned char) buf.data[i] >= 0x80)
		{
			int			len;
			char	   *ascii = nfkc_ascii(buf.data, buf.len, &len);

			if (ascii != NULL)
			{
				/* NFKC may leave spaces at an end (U+2003 and the like) */
				p = (const unsigned char *) ascii;
				end = p + len;
				trim_spaces(&p, &end);
				if (p == end)
					return NULL;
				resetStringInfo(&buf);
				appendBinaryStringInfo(&buf, (const char *) p, end - p);
			}
			break;
		}
	}
	tracking = csv_sheet_tracking_no(buf.data, buf.len, refusal);
	if (tracking == NULL)
		return NULL;
	server = pg_any_to_server(tracking, strlen(tracking), PG_UTF8);
	return clip_chars(server, strlen(server));
}
