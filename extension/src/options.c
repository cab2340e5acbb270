/*-------------------------------------------------------------------------
 *
 * options.c
 *	  The options of a call (a jsonb object): the one parser every function
 *	  that takes options goes through.
 *
 * run_bulk, retry_failed, revert_job, cancel_job, upload_csv and
 * import_shipments parse theirs here in C (bulk_parse_options), each
 * adding its own options through a callback (retry_failed's error_codes,
 * the uploads' encoding); the PL/pgSQL functions of the API
 * (mark_notifications_read) through bulkorder_catalog.call_options, which
 * also resolves the call's shop.  Every option is checked the same way
 * everywhere: its type, a text option's length, an unknown option named
 * with the options its function takes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "bulkorder.h"

PG_FUNCTION_INFO_V1(bulkorder_call_options);

/* The options bulk_parse_options reads itself (the job's, and the shop) */
static const char *const call_options[] = {"operator", "shop", "async", "request_key", "source"};

/* Is name one of the options bulk_parse_options reads itself? */
bool
bulk_is_call_option(const char *name)
{
	for (int i = 0; i < lengthof(call_options); i++)
		if (strcmp(name, call_options[i]) == 0)
			return true;
	return false;
}

/*
 * A text option: NULL for JSON null, else 1 to 200 characters (characters,
 * not bytes: an operator's name in kana is three bytes a character).
 */
char *
bulk_option_text(const char *name, JsonbValue *v)
{
	int			nchars;

	if (v->type == jbvNull)
		return NULL;
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be text", name),
				 bulk_errdetail(BMSG_OPTION_TEXT, name)));
	nchars = pg_mbstrlen_with_len(v->val.string.val, v->val.string.len);
	if (nchars == 0 || nchars > 200)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be 1 to 200 characters long", name),
				 bulk_errdetail(BMSG_OPTION_TEXT, name)));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * The options of a call: the job options (async, request_key, operator,
 * source, shop) when job_options, else operator and shop; a name neither
 * knows goes to extra (when given), which reads it and returns true, or
 * returns false for an unknown option: rejected with the hint unknown_msg.
 */
BulkJobOptions
bulk_parse_options(Jsonb *options, bool job_options, BulkOptionFn extra, void *arg,
				   BulkMsg unknown_msg)
{
	BulkJobOptions opts = {false, NULL, NULL, "api", false, NULL};
	JsonbIterator *it;
	JsonbValue	v;
	char	   *name;

	if (options == NULL)
		return opts;
	it = bulk_object_iterator(options, "options");
	while (bulk_object_next(&it, &name, &v))
	{
		if (strcmp(name, "operator") == 0)
			opts.operator_name = bulk_option_text(name, &v);
		else if (strcmp(name, "shop") == 0)
			opts.shop = bulk_option_text(name, &v);
		else if (!job_options)
		{
			if (extra == NULL || !extra(arg, name, &v))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown option \"%s\"", name),
						 bulk_errhint(unknown_msg, name)));
		}
		else if (strcmp(name, "async") == 0)
		{
			if (v.type != jbvBool)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"async\" must be a boolean"),
						 bulk_errdetail(BMSG_OPTION_BOOLEAN, "async")));
			opts.async = v.val.boolean;
		}
		else if (strcmp(name, "request_key") == 0)
			opts.request_key = bulk_option_text(name, &v);
		else if (strcmp(name, "source") == 0)
		{
			char	   *source = bulk_option_text(name, &v);

			opts.source = source ? source : "api";
			opts.source_given = true;
		}
		else if (extra == NULL || !extra(arg, name, &v))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown option \"%s\"", name),
					 bulk_errhint(unknown_msg, name)));
	}
	return opts;
}

/*
 * bulkorder_catalog.call_options(options jsonb, unknown_msg text,
 *								  OUT shop_id bigint, OUT operator text)
 *
 * The options of a PL/pgSQL function of the API, operator and shop,
 * parsed as bulk_parse_options parses any call's (an unknown option is
 * rejected with the hint of messages.c's entry unknown_msg), and the
 * call's shop, checked against the calling role's grants (shop.c).
 */
Datum
bulkorder_call_options(PG_FUNCTION_ARGS)
{
	Jsonb	   *options = PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0);
	BulkMsg		unknown_msg = bulk_message_id(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	BulkJobOptions opts = bulk_parse_options(options, false, NULL, NULL, unknown_msg);
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "bulkorder: call_options must return a record");
	values[0] = Int64GetDatum(bulk_resolve_shop(opts.shop));
	if (opts.operator_name)
		values[1] = CStringGetTextDatum(opts.operator_name);
	else
		nulls[1] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
