/*
 * Preloaded after libasan into the sanitized server of `make check-asan`
 * (tools/asan.sh), never into a real one.  Under LD_PRELOAD of gcc 12's
 * libasan.so.8, Debian 12's postgres hangs at start: the reader count of
 * glibc's _nl_state_lock underflows and bindtextdomain() then waits on it
 * forever (a known sanitizer-runtime problem with uninstrumented programs).
 * The server's messages are not translated in the test cluster anyway
 * (lc_messages C), so the text-domain bindings become no-ops.
 */
char	   *bindtextdomain(const char *domainname, const char *dirname);
char	   *textdomain(const char *domainname);
char	   *bind_textdomain_codeset(const char *domainname, const char *codeset);

char *
bindtextdomain(const char *domainname, const char *dirname)
{
	(void) domainname;
	return (char *) dirname;
}

char *
textdomain(const char *domainname)
{
	return (char *) domainname;
}

char *
bind_textdomain_codeset(const char *domainname, const char *codeset)
{
	(void) domainname;
	return (char *) codeset;
}
