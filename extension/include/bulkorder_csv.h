/*-------------------------------------------------------------------------
 *
 * bulkorder_csv.h
 *	  Declarations private to the CSV upload (csv_*.c and csv.c).
 *
 * The upload is six files, each of one concern, called in one direction:
 *
 *	csv.c		the two SQL entry points (upload_csv, import_shipments) and
 *				their options; calls staging, and the job API (jobs.c)
 *	csv_stage.c	staging: the tuplesort by key, batches into
 *				bulkorder.upload_lines / upload_shipments, the counts;
 *				calls the reader and the cells
 *	csv_read.c	the COPY data source over the uploaded bytes: the only file
 *				that includes PostgreSQL internals (copyfrom_internal.h)
 *	csv_cells.c	columns A and B of a record: trimming, full-width forms,
 *				a key, a tracking number; pure functions of a field's
 *				text, as are
 *	csv_sheet.c	a cell read as a spreadsheet writes it, and
 *	csv_tracking.c	the carriers' tracking number formats
 *
 *-------------------------------------------------------------------------
 */
#ifndef BULKORDER_CSV_H
#define BULKORDER_CSV_H

#include "bulkorder.h"
#include "lib/stringinfo.h"

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

static inline bool
ascii_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * csv_sheet.c: what a cell is, read the way a spreadsheet writes it
 * (docs/csv.md).  Every kind but SHEET_INTEGER is a
 * refusal of a key; csv_sheet_code and csv_sheet_cause name it.
 */
typedef enum SheetKind
{
	SHEET_INTEGER,				/* an integer; its digits are the output */
	SHEET_EMPTY,				/* nothing inside its wrapper: '', ="", = */
	SHEET_ROUNDED,				/* scientific notation that lost digits */
	SHEET_FRACTION,				/* a number whose fraction is not zero */
	SHEET_NEGATIVE,				/* -1, ▲1, △1, (1), 1- */
	SHEET_CURRENCY,				/* ¥1, \1, $1, 1円: a currency or unit format */
	SHEET_FORMULA,				/* text beginning with =, + or @ */
	SHEET_BAD_GROUPING,			/* digits and commas not in groups of 3 */
	SHEET_FORMULA_ERROR,		/* #N/A, #VALUE!, ... */
	SHEET_OUT_OF_RANGE,			/* an integer past bigint */
	SHEET_SEPARATOR,			/* a number, then a tab or a semicolon */
	SHEET_REPLACED,				/* digits with "?": a character lost to Shift_JIS */
	SHEET_TEXT					/* anything else */
} SheetKind;

extern void csv_sheet_fold(const unsigned char *p, const unsigned char *end, StringInfo out);
extern SheetKind csv_sheet_key(const char *s, int len, int64 *key);
extern char *csv_sheet_tracking_no(const char *s, int len, const char **refusal);
extern const char *csv_sheet_code(SheetKind kind);
extern const char *csv_sheet_cause(SheetKind kind);

/* csv_cells.c: columns A and B of a record */
extern bool csv_field_is_blank(const char *field);
extern bool csv_field_numberish(const char *field);
extern SheetKind csv_parse_key(const char *field, int64 *key);
extern char *csv_field_display(const char *field);
extern char *csv_tracking_no(const char *field, const char **refusal);

/* csv_tracking.c: the carriers' tracking number formats */
extern const char *csv_tracking_check(const char *format, const char *tracking, int len,
									  StringInfo canonical);

/* csv_read.c */

/*
 * Called for each record COPY reads: its raw fields, and the physical line
 * (1-based) where it starts.
 */
typedef void (*CsvRecordFn) (void *arg, char **fields, int nfields, int line_no);

extern void csv_content_bytes(bytea *content, const char **data, size_t *len,
							  int *encoding, bool *bom);
extern int	csv_read_records(const char *data, size_t len, int encoding,
							 CsvRecordFn fn, void *arg);

/* csv_stage.c */

/* The page a key must exist on (bulkorder_catalog.pages) */
typedef struct CsvPage
{
	char	   *table;
	char	   *key;
	char	   *visible;
} CsvPage;

extern int64 csv_stage_upload(const char *page, const char *purpose, bytea *content,
							  int encoding, const char *operator_name,
							  CsvPage *check_page, bool with_tracking);
extern void csv_stage_shipments(int64 upload_id);
extern void csv_settle_upload(int64 upload_id, int64 job_id, bool own_job);

#endif							/* BULKORDER_CSV_H */
