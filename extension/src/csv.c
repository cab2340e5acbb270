/*-------------------------------------------------------------------------
 *
 * csv.c
 *	  The CSV uploads' SQL entry points: target selection (upload_csv) and
 *	  the shipment data import (import_shipments), and their options.
 *
 * Reading the file is csv_read.c's, its cells csv_cells.c's, staging
 * csv_stage.c's (bulkorder_csv.h); the import's job goes through the job
 * API of jobs.c (bulk_submit_job), which checks the job options, the
 * request key and the params as it does for run_bulk.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

#include "bulkorder_csv.h"

PG_FUNCTION_INFO_V1(bulkorder_upload_csv);
PG_FUNCTION_INFO_V1(bulkorder_import_shipments);
PG_FUNCTION_INFO_V1(bulkorder_tracking_no_problem);
PG_FUNCTION_INFO_V1(bulkorder_tracking_no_canonical);

/* ------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------
 */

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
			 bulk_errhint(BMSG_CSV_ENCODING, pnstrdup(name, len))));
	return -1;					/* keep the compiler quiet */
}

/* The upload's own option, "encoding" (bulk_parse_options reads the rest). */
static bool
encoding_option(void *arg, const char *name, JsonbValue *v)
{
	int		   *encoding = (int *) arg;

	if (strcmp(name, "encoding") != 0)
		return false;
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"encoding\" must be text"),
				 bulk_errhint(BMSG_CSV_ENCODING_TEXT, NULL)));
	*encoding = parse_encoding_name(v->val.string.val, v->val.string.len);
	return true;
}

/* ------------------------------------------------------------------------
 * The page a key must exist on
 * ------------------------------------------------------------------------
 */
static CsvPage
lookup_page(const char *page)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(page)};
	CsvPage	info;
	HeapTuple	tup;
	TupleDesc	desc;

	bulk_spi_exec("SELECT target_table, key_column, visible_condition"
				  " FROM bulkorder_catalog.pages WHERE page = $1",
				  1, argtypes, values, NULL, true, SPI_OK_SELECT);
	if (SPI_processed == 0)
		bulk_unknown_page(page);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	info.table = SPI_getvalue(tup, desc, 1);
	info.key = SPI_getvalue(tup, desc, 2);
	info.visible = SPI_getvalue(tup, desc, 3);
	return info;
}

static bytea *
content_arg(FunctionCallInfo fcinfo, int argno)
{
	Size		size;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("content must not be NULL"),
				 bulk_errhint(BMSG_CSV_CONTENT_NULL, NULL)));

	/* the size as stored: a file over the limit is never detoasted */
	size = toast_raw_datum_size(PG_GETARG_DATUM(argno)) - VARHDRSZ;
	if (size > (Size) bulkorder_max_upload_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the file is %zu bytes, more than bulkorder.max_upload_bytes (%d bytes)",
						size, bulkorder_max_upload_bytes),
				 bulk_errdetail(BMSG_CSV_TOO_LARGE, psprintf("%d", bulkorder_max_upload_bytes)),
				 bulk_errhint(BMSG_CSV_RAISE_LIMIT, NULL)));
	return PG_GETARG_BYTEA_PP(argno);
}

/*
 * upload_csv(page text, content bytea, options jsonb DEFAULT '{}') RETURNS bigint
 */
Datum
bulkorder_upload_csv(PG_FUNCTION_ARGS)
{
	char	   *page;
	bytea	   *content;
	int			encoding = PG_UTF8;
	BulkJobOptions opts;
	CsvPage		info;
	int64		upload_id;
	int64		previous;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("page must not be NULL"),
				 bulk_errdetail(BMSG_ARG_NULL, "page")));
	page = text_to_cstring(PG_GETARG_TEXT_PP(0));
	content = content_arg(fcinfo, 1);
	opts = bulk_parse_options(PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2), false,
							  encoding_option, &encoding, BMSG_UPLOAD_OPTION_UNKNOWN);
	/* keys are resolved in the call's shop: every statement is confined to it */
	previous = bulk_enter_call(opts.shop);
	info = lookup_page(page);
	bulk_check_installed_version();
	upload_id = csv_stage_upload(page, "targets", content, encoding, opts.operator_name,
								 &info, false);
	bulk_leave_call(previous);
	PG_RETURN_INT64(upload_id);
}

/*
 * import_shipments(content bytea, options jsonb DEFAULT '{}') RETURNS bigint
 *
 * Stage the file as an upload of the shipments page, then submit the
 * catalogued operation shipments/import_shipments over its order numbers
 * (bulk_submit_job, as run_bulk does), with params {"upload_id": …}: the
 * engine checks, locks, applies and records every order, reading its
 * tracking number from bulkorder.upload_shipments.  The options are
 * run_bulk's (source "csv" unless given) and "encoding".  A request key is
 * scoped as run_bulk's, with the file's fingerprint as the request
 * (bulk_request_hash_file).  Returns the job id.
 */
Datum
bulkorder_import_shipments(PG_FUNCTION_ARGS)
{
	bytea	   *content = content_arg(fcinfo, 0);
	Jsonb	   *options = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	int			encoding = PG_UTF8;
	BulkJobOptions opts = bulk_parse_options(options, true, encoding_option, &encoding,
											 BMSG_IMPORT_OPTION_UNKNOWN);
	Oid			types[1] = {INT8OID};
	Datum		values[1];
	int64		upload_id;
	int64		job_id;
	bytea	   *request_hash = NULL;
	bool		isnull;
	bool		existing;
	BulkTargets targets;
	Jsonb	   *params;

	int64		previous = bulk_enter_call(opts.shop);

	if (!opts.source_given)
		opts.source = "csv";

	/* a request key already used: the first job's id, without reading the file */
	if (opts.request_key)
	{
		/* the request: the file and how to read it (jobs.c, "Request keys") */
		request_hash = bulk_request_hash_file("shipments", "import_shipments",
											  VARDATA_ANY(content),
											  VARSIZE_ANY_EXHDR(content), options);
		job_id = bulk_request_key_job("shipments", opts.request_key, request_hash);
		if (job_id != 0)
		{
			bulk_leave_call(previous);
			PG_RETURN_INT64(job_id);
		}
	}

	bulk_check_installed_version();
	upload_id = csv_stage_upload("shipments", "import_shipments", content, encoding,
								 opts.operator_name, NULL, true);
	csv_stage_shipments(upload_id);

	/* the job's targets, in the file's order, and its params */
	values[0] = Int64GetDatum(upload_id);
	bulk_spi_exec("SELECT (SELECT coalesce(array_agg(s.order_no ORDER BY s.line_no), '{}')"
				  "          FROM bulkorder.upload_shipments s WHERE s.upload_id = $1),"
				  " jsonb_build_object('upload_id', $1)",
				  1, types, values, NULL, false, SPI_OK_SELECT);
	targets = bulk_targets_from_array(DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0],
																	   SPI_tuptable->tupdesc,
																	   1, &isnull)));
	params = DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2,
										  &isnull));

	/*
	 * The job sees the staged file: a snapshot taken now, as a statement
	 * SPI runs would take (an error pops it with the transaction).
	 */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	job_id = bulk_submit_job("shipments", "import_shipments", &targets, params, &opts,
							 request_hash, &existing);
	PopActiveSnapshot();
	/*
	 * existing: the request key was used by a concurrent call that committed
	 * first; its job stands, this file is dropped.
	 */
	csv_settle_upload(upload_id, job_id, !existing);

	bulk_leave_call(previous);
	PG_RETURN_INT64(job_id);
}

/* ------------------------------------------------------------------------
 * Tracking numbers as carriers issue them (csv_tracking.c, csv_tracking_check):
 * the import's rules and its staging call these, once per order or line.
 * ------------------------------------------------------------------------
 */

/*
 * tracking_no_problem(tracking_format text, tracking_no text) RETURNS text
 *
 * NULL when tracking_no is a tracking number of the format; else what is
 * wrong with it: 'character', 'length' or 'check_digit'.  STRICT.
 */
Datum
bulkorder_tracking_no_problem(PG_FUNCTION_ARGS)
{
	char	   *format = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *tracking = PG_GETARG_TEXT_PP(1);
	StringInfoData canonical;
	const char *problem;

	initStringInfo(&canonical);
	problem = csv_tracking_check(format, VARDATA_ANY(tracking), VARSIZE_ANY_EXHDR(tracking),
								 &canonical);
	if (problem == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(problem));
}

/*
 * tracking_no_canonical(tracking_format text, tracking_no text) RETURNS text
 *
 * The form a tracking number of the format is stored in (jp12: its 12
 * digits; s10: upper case, no spaces; text: no spaces); NULL when it is
 * none, so that nothing but a checked number is ever stored.  STRICT.
 */
Datum
bulkorder_tracking_no_canonical(PG_FUNCTION_ARGS)
{
	char	   *format = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *tracking = PG_GETARG_TEXT_PP(1);
	StringInfoData canonical;

	initStringInfo(&canonical);
	if (csv_tracking_check(format, VARDATA_ANY(tracking), VARSIZE_ANY_EXHDR(tracking),
						   &canonical) != NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(canonical.data, canonical.len));
}
