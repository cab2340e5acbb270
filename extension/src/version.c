/*-------------------------------------------------------------------------
 *
 * version.c
 *	  The library and the installed SQL objects must be of one version.
 *
 * A package upgrade replaces the library at once, but a database keeps the
 * objects of the version it has until ALTER EXTENSION bulkorder UPDATE runs
 * in it.  The engine reads tables, columns and catalogue rows that an older
 * version does not have, so every entry point checks first and says what to
 * do, instead of failing somewhere inside a job.  (Citus does the same.)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

#include "bulkorder.h"

/*
 * The version of bulkorder installed in this database, or NULL when it is
 * not installed.  Palloc'd in the caller's context.
 */
char *
bulk_installed_version(void)
{
	Oid			extoid = get_extension_oid("bulkorder", true);
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *version = NULL;

	if (!OidIsValid(extoid))
		return NULL;
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = text_to_cstring(DatumGetTextPP(d));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

/* Whether the database's bulkorder is the library's version. */
bool
bulk_installed_version_matches(void)
{
	char	   *installed;

	/* an install or update script is consistent by construction */
	if (creating_extension)
		return true;
	installed = bulk_installed_version();
	return installed != NULL && strcmp(installed, BULKORDER_VERSION) == 0;
}

/* Refuse to work on the objects of another version. */
void
bulk_check_installed_version(void)
{
	char	   *installed;

	if (bulk_installed_version_matches())
		return;
	installed = bulk_installed_version();
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("bulkorder library %s is loaded, but this database has bulkorder %s",
					BULKORDER_VERSION, installed ? installed : "(not installed)"),
			 bulk_errdetail(BMSG_VERSION_MISMATCH, NULL),
			 bulk_errhint(BMSG_VERSION_UPDATE, NULL)));
}
