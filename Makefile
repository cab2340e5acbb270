# bulkorder — PGXS build, plus the project's commands: `make demo`, `make test`, `make fuzz`.

EXTENSION = bulkorder
EXTVERSION := $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = bulkorder
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard extension/src/*.c)))
PG_CPPFLAGS = -I$(srcdir)/extension/include -DBULKORDER_VERSION='"$(EXTVERSION)"'
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare

# The SQL sources, by kind:
#   install/   run once by CREATE EXTENSION: what it finds (fresh, adopt,
#              restore), the catalogue's tables
#   shop/      the shop's tables and views: created on a fresh install only,
#              then released from the extension (code/98_release.sql)
#   code/      functions, views of the engine, the operations, grants: every
#              statement can run again, so every upgrade script ends with it
#   upgrades/  A--B.sql: what only the upgrade from A to B does (tables,
#              dropped or re-typed objects); the build appends code/
#   releases/  the scripts of released versions, frozen as shipped
#
# The order the scripts run them in is written here, and only here: a
# file's number is a name, not a place.  A .sql file in those folders that
# is not listed stops the build (sql-listed), so none is left out unseen.
INSTALL_SQL = $(addprefix extension/sql/install/, \
    00_mode.sql 10_catalog.sql 65_generation_result.sql)
# the shop/ files this version added: a fresh install runs them after the
# older ones, the update runs them after upgrades/A--B.sql (the same
# statements on both paths, so both end with the same schema)
UPGRADE_SHOP_SQL = $(addprefix extension/sql/shop/, \
    96_queue_1_2.sql 99_shops.sql)
SHOP_SQL = $(addprefix extension/sql/shop/, \
    10_domain.sql 20_jobs.sql 40_views.sql 55_payments.sql 60_csv.sql 70_async.sql \
    90_jobs_1_1.sql 95_revert.sql) \
    $(UPGRADE_SHOP_SQL)
# the shipped operations come after the API they call and before what reads
# the catalogue they fill (the uploads, generation, the grants of wrappers)
CODE_SQL = $(addprefix extension/sql/code/, \
    01_messages.sql 05_shops.sql 06_citus.sql 10_text.sql 15_frequency.sql 20_jobs.sql 30_catalog.sql \
    35_define_operation.sql 50_api.sql 55_payments.sql \
    operations/00_common.sql operations/10_orders.sql operations/20_subscriptions.sql \
    operations/30_shipments.sql operations/35_shipments_import.sql operations/40_customers.sql \
    60_csv.sql 65_generation.sql 70_async.sql 80_citus.sql 98_release.sql 99_security.sql)
# only the step into the version being built is generated; earlier steps
# are frozen under releases/ when their version ships
UPGRADE_SQL = $(wildcard extension/sql/upgrades/*--$(EXTVERSION).sql)
SQL_UNLISTED = $(filter-out $(INSTALL_SQL) $(SHOP_SQL) $(CODE_SQL), \
    $(wildcard extension/sql/install/*.sql extension/sql/shop/*.sql extension/sql/code/*.sql \
               extension/sql/code/operations/*.sql))
DATA_built = $(EXTENSION)--$(EXTVERSION).sql \
             $(patsubst extension/sql/upgrades/%.sql,$(EXTENSION)--%.sql,$(UPGRADE_SQL))
DATA = $(wildcard extension/sql/releases/$(EXTENSION)--*.sql)

REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
ISOLATION = $(patsubst specs/%.spec,%,$(sort $(wildcard specs/*.spec)))

EXTRA_CLEAN = $(DATA_built) results output_iso regression.diffs regression.out

# Which PostgreSQL: PG_CONFIG from the environment or the command line, else
# pg_config on the PATH (on Debian a wrapper that runs the newest installed
# server's pg_config), else Debian's PostgreSQL 15.  Only PostgreSQL 15 is
# supported.  Before `make deps` has installed PostgreSQL there is no
# pg_config: then only the project's own goals (deps, and test/demo/bench,
# which run deps first) work.
PG_MAJOR_SUPPORTED = 15
PG_CONFIG_DEBIAN = /usr/lib/postgresql/$(PG_MAJOR_SUPPORTED)/bin/pg_config
ifeq ($(strip $(PG_CONFIG)),)
PG_CONFIG := $(firstword $(shell command -v pg_config 2>/dev/null) $(wildcard $(PG_CONFIG_DEBIAN)))
endif
PG_VERSION_FOUND := $(if $(PG_CONFIG),$(shell $(PG_CONFIG) --version 2>/dev/null))
PG_MAJOR := $(shell echo '$(PG_VERSION_FOUND)' | sed -n 's/^PostgreSQL \([0-9][0-9]*\).*/\1/p')
PG_CONFIG_HINT = set PG_CONFIG to the pg_config of a PostgreSQL $(PG_MAJOR_SUPPORTED) installation, e.g. make PG_CONFIG=$(PG_CONFIG_DEBIAN) (Debian package postgresql-server-dev-$(PG_MAJOR_SUPPORTED); make deps installs it)
# goals that work without PostgreSQL's build files
NO_PGXS_GOALS = deps demo stop test fuzz bench profile bench-citus
GOALS = $(or $(MAKECMDGOALS),all)

ifeq ($(PG_MAJOR),)
NO_PGXS_YET = 1
ifneq ($(filter-out $(NO_PGXS_GOALS),$(GOALS)),)
$(error no usable pg_config (PG_CONFIG=$(or $(PG_CONFIG),<none found on the PATH nor at $(PG_CONFIG_DEBIAN)>)): run make deps as root to install PostgreSQL $(PG_MAJOR_SUPPORTED), or $(PG_CONFIG_HINT))
endif
else ifneq ($(PG_MAJOR),$(PG_MAJOR_SUPPORTED))
NO_PGXS_YET = 1
ifneq ($(filter-out deps stop,$(GOALS)),)
$(error bulkorder supports PostgreSQL $(PG_MAJOR_SUPPORTED) only, but PG_CONFIG=$(PG_CONFIG) is $(PG_VERSION_FOUND): $(PG_CONFIG_HINT))
endif
else
PGXS := $(shell $(PG_CONFIG) --pgxs)
ifeq ($(wildcard $(PGXS)),)
NO_PGXS_YET = 1
ifneq ($(filter-out $(NO_PGXS_GOALS),$(GOALS)),)
$(error PG_CONFIG=$(PG_CONFIG) ($(PG_VERSION_FOUND)) has no PGXS at $(or $(PGXS),<none>): install postgresql-server-dev-$(PG_MAJOR_SUPPORTED) (make deps), or $(PG_CONFIG_HINT))
endif
else
include $(PGXS)
endif
endif

# Debian's PGXS compiles LLVM bitcode when clang is there; skip it when not.
ifeq ($(shell command -v clang 2>/dev/null),)
with_llvm = no
endif

# sql_cat TITLE FILES: the files, each under a banner, @EXTVERSION@ filled in
sql_cat = for f in $(2); do echo; echo "-- ==== $$f"; sed 's/@EXTVERSION@/$(EXTVERSION)/g' $$f; done

$(EXTENSION)--$(EXTVERSION).sql: $(INSTALL_SQL) $(SHOP_SQL) $(CODE_SQL) $(EXTENSION).control Makefile | sql-listed
	{ echo '-- Generated from extension/sql by make: edit the sources, not this file.'; \
	  printf '%s\n' '\echo Use "CREATE EXTENSION $(EXTENSION)" to load this file. \quit'; \
	  $(call sql_cat,,$(INSTALL_SQL)); \
	  echo; echo '-- The shop'"'"'s tables: on a fresh install only (install/00_mode.sql).'; \
	  echo 'DO $$bulkorder_shop$$'; echo 'BEGIN'; \
	  echo "IF pg_catalog.current_setting('bulkorder_install.mode') = 'fresh' THEN"; \
	  $(call sql_cat,,$(SHOP_SQL)); \
	  echo 'END IF;'; echo 'END'; echo '$$bulkorder_shop$$;'; \
	  $(call sql_cat,,$(CODE_SQL)); } > $@

$(EXTENSION)--%--$(EXTVERSION).sql: extension/sql/upgrades/%--$(EXTVERSION).sql $(UPGRADE_SHOP_SQL) $(CODE_SQL) $(EXTENSION).control Makefile | sql-listed
	{ echo '-- Generated from extension/sql by make: edit the sources, not this file.'; \
	  printf '%s\n' '\echo Use "ALTER EXTENSION $(EXTENSION) UPDATE TO '"'"'$(EXTVERSION)'"'"'" to load this file. \quit'; \
	  $(call sql_cat,,$<); \
	  $(call sql_cat,,$(UPGRADE_SHOP_SQL)); \
	  $(call sql_cat,,$(CODE_SQL)); } > $@

# every SQL source is in the lists above
.PHONY: sql-listed
sql-listed:
	@if [ -n "$(strip $(SQL_UNLISTED))" ]; then \
	  echo "Makefile: $(strip $(SQL_UNLISTED)) not in INSTALL_SQL, SHOP_SQL or CODE_SQL: list it where it runs" >&2; \
	  exit 1; fi

# PGXS tracks no header dependencies: every object depends on every header.
$(OBJS): $(wildcard extension/include/*.h)
# the library's version (BULKORDER_VERSION) is the control file's
extension/src/version.o: $(EXTENSION).control

.PHONY: deps demo stop test fuzz bench profile bench-citus check-asan

deps:
	bash tools/deps.sh

demo: deps
	$(MAKE) all
	bash tools/demo.sh

stop:
	bash tools/pg.sh stop demo

# every suite; the fuzz stage runs its fixed seeds (test/stages/fuzz.sh)
test: deps
	$(MAKE) all
	bash tools/test.sh

# the fuzz stage with a new random seed, printed with the command that
# replays it; FUZZ_SECONDS (60) bounds it
fuzz: deps
	$(MAKE) all
	FUZZ_SEED=random bash test/stages/fuzz.sh

# then the Citus path (bench/citus.sh; skipped without ../shared/vendor)
bench: deps
	$(MAKE) all
	bash bench/run.sh
	bash bench/citus.sh

bench-citus: deps
	$(MAKE) all
	bash bench/citus.sh

# instruction counts of one engine chunk against its floor (bench/README.md)
profile: deps
	$(MAKE) all
	bash bench/profile.sh

# the extension built with ASan + UBSan in a copy of its own (.pg/asan), the
# suites against a server with the runtime preloaded (docs/development.md)
check-asan: deps
	bash tools/asan.sh
