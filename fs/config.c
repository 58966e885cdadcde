/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.c - environment credentials and the INI file (see config.h).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ftrackfs/config.h"
#include "ftrackfs/log.h"
#include "ftrackfs/util.h"

#define MOD "config"
#define CONFIG_MAX_BYTES (1 << 20)

static char *env_dup(const char *name)
{
	const char *v = getenv(name);

	if (!v || !*v)
		return NULL;
	return strdup(v);
}

static char *trim(char *s)
{
	char *e;

	while (*s && isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Drop trailing '/' but keep "/" itself. */
static void config_strip_slash(char *p)
{
	size_t n = strlen(p);

	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
}

static int parse_uint(const char *v, unsigned min, unsigned max, unsigned *ret)
{
	char *end;
	unsigned long n;

	if (!*v || !isdigit((unsigned char)*v))
		return -EINVAL;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || n < min || n > max)
		return -EINVAL;
	*ret = (unsigned)n;
	return 0;
}

static int parse_bool(const char *v, bool *ret)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "on"))
		*ret = true;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "off"))
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

static int grow(void **arr, size_t n, size_t elem)
{
	void *p = realloc(*arr, (n + 1) * elem);

	if (!p)
		return -ENOMEM;
	*arr = p;
	memset((char *)p + n * elem, 0, elem);
	return 0;
}

static struct config_location *location_get(struct config *cfg, const char *name, bool create)
{
	for (size_t i = 0; i < cfg->n_locations; i++)
		if (!strcmp(cfg->locations[i].name, name))
			return &cfg->locations[i];
	if (!create)
		return NULL;
	if (grow((void **)&cfg->locations, cfg->n_locations, sizeof(*cfg->locations)) < 0)
		return NULL;
	cfg->locations[cfg->n_locations].name = strdup(name);
	if (!cfg->locations[cfg->n_locations].name)
		return NULL;
	return &cfg->locations[cfg->n_locations++];
}

const struct config_location *config_location(const struct config *cfg, const char *name)
{
	if (!cfg || !name)
		return NULL;
	for (size_t i = 0; i < cfg->n_locations; i++)
		if (!strcmp(cfg->locations[i].name, name))
			return &cfg->locations[i];
	return NULL;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	free(cfg->ftrack_server);
	free(cfg->ftrack_user);
	free(cfg->ftrack_key);
	free(cfg->accsyn_workspace);
	free(cfg->accsyn_user);
	free(cfg->accsyn_key);
	for (size_t i = 0; i < cfg->n_locations; i++) {
		free(cfg->locations[i].name);
		free(cfg->locations[i].party);
		free(cfg->locations[i].root);
	}
	free(cfg->locations);
	for (size_t i = 0; i < cfg->n_pathmaps; i++) {
		free(cfg->pathmaps[i].from);
		free(cfg->pathmaps[i].to);
	}
	free(cfg->pathmaps);
	for (size_t i = 0; i < cfg->n_absolutes; i++) {
		free(cfg->absolutes[i].prefix);
		free(cfg->absolutes[i].location);
	}
	free(cfg->absolutes);
	for (size_t i = 0; i < cfg->n_source_priority; i++)
		free(cfg->source_priority[i]);
	free(cfg->source_priority);
	free(cfg->cache_dir);
	free(cfg->log_level);
	free(cfg->path);
	free(cfg);
}

enum section { SEC_NONE, SEC_GENERAL, SEC_LOCATION, SEC_PATHMAP, SEC_ABSOLUTE, SEC_SEND };

struct parser {
	struct config *cfg;
	const char *name;
	int line;
	enum section sec;
	char *loc;	/* current [location NAME] */
};

static int set_str(char **dst, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

static int parse_section(struct parser *p, char *s)
{
	char *end = strchr(s, ']');

	if (!end || trim(end + 1)[0])
		return -EINVAL;
	*end = '\0';
	s = trim(s + 1);
	free(p->loc);
	p->loc = NULL;
	if (!strcasecmp(s, "general")) {
		p->sec = SEC_GENERAL;
	} else if (!strcasecmp(s, "pathmap")) {
		p->sec = SEC_PATHMAP;
	} else if (!strcasecmp(s, "absolute")) {
		p->sec = SEC_ABSOLUTE;
	} else if (!strcasecmp(s, "send")) {
		p->sec = SEC_SEND;
	} else if (!strncasecmp(s, "location", 8) && isspace((unsigned char)s[8])) {
		char *name = trim(s + 9);
		size_t n = strlen(name);

		/* allow [location "name with spaces"] */
		if (n >= 2 && name[0] == '"' && name[n - 1] == '"') {
			name[n - 1] = '\0';
			name++;
		}
		if (!*name)
			return -EINVAL;
		p->loc = strdup(name);
		if (!p->loc || !location_get(p->cfg, name, true))
			return -ENOMEM;
		p->sec = SEC_LOCATION;
	} else {
		return -EINVAL;
	}
	return 0;
}

/* "la, hq" -> the list of location names; a later key replaces an earlier one. */
static int parse_priority(struct config *cfg, char *val)
{
	for (size_t i = 0; i < cfg->n_source_priority; i++)
		free(cfg->source_priority[i]);
	cfg->n_source_priority = 0;
	for (char *tok = val, *next; tok; tok = next) {
		char *comma = strchr(tok, ',');
		char *name;

		next = comma ? comma + 1 : NULL;
		if (comma)
			*comma = '\0';
		name = trim(tok);

		if (!*name)
			return -EINVAL;
		if (grow((void **)&cfg->source_priority, cfg->n_source_priority,
			 sizeof(*cfg->source_priority)) < 0)
			return -ENOMEM;
		cfg->source_priority[cfg->n_source_priority] = strdup(name);
		if (!cfg->source_priority[cfg->n_source_priority])
			return -ENOMEM;
		cfg->n_source_priority++;
	}
	return cfg->n_source_priority ? 0 : -EINVAL;
}

static int parse_kv(struct parser *p, char *key, char *val)
{
	struct config *cfg = p->cfg;
	struct config_location *l;
	int r;

	switch (p->sec) {
	case SEC_GENERAL:
		if (!strcasecmp(key, "ttl"))
			return parse_uint(val, 1, 86400 * 365, &cfg->ttl_s);
		if (!strcasecmp(key, "prefetch_depth"))
			return parse_uint(val, 0, 64, &cfg->prefetch_depth);
		if (!strcasecmp(key, "rss_budget_mib"))
			return parse_uint(val, 0, 1 << 20, &cfg->rss_budget_mib);
		if (!strcasecmp(key, "colocate"))
			return parse_bool(val, &cfg->colocate);
		if (!strcasecmp(key, "passthrough"))
			return parse_bool(val, &cfg->passthrough);
		if (!strcasecmp(key, "spin_us"))
			return parse_uint(val, 0, 10000, &cfg->spin_us);
		if (!strcasecmp(key, "first_fetch_timeout"))
			return parse_uint(val, 1, 3600, &cfg->first_fetch_timeout_s);
		if (!strcasecmp(key, "cache_dir")) {
			if (val[0] != '/')
				return -EINVAL;
			r = set_str(&cfg->cache_dir, val);
			if (r == 0) {
				config_strip_slash(cfg->cache_dir);
				cfg->cache_dir_set = true;
			}
			return r;
		}
		if (!strcasecmp(key, "log_level")) {
			enum log_level lv;

			if (log_level_from_string(val, &lv) < 0)
				return -EINVAL;
			return set_str(&cfg->log_level, val);
		}
		return -EINVAL;
	case SEC_LOCATION:
		l = location_get(cfg, p->loc, false);
		if (!l)
			return -EINVAL;
		if (!strcasecmp(key, "local"))
			return parse_bool(val, &l->is_local);
		if (!strcasecmp(key, "root")) {
			if (val[0] != '/')
				return -EINVAL;
			r = set_str(&l->root, val);
			if (r == 0)
				config_strip_slash(l->root);
			return r;
		}
		if (!strcasecmp(key, "party"))
			return *val ? set_str(&l->party, val) : -EINVAL;
		return -EINVAL;
	case SEC_PATHMAP:
		if (!*key || val[0] != '/')
			return -EINVAL;
		if (grow((void **)&cfg->pathmaps, cfg->n_pathmaps, sizeof(*cfg->pathmaps)) < 0)
			return -ENOMEM;
		cfg->pathmaps[cfg->n_pathmaps].from = strdup(key);
		cfg->pathmaps[cfg->n_pathmaps].to = strdup(val);
		cfg->n_pathmaps++;
		if (!cfg->pathmaps[cfg->n_pathmaps - 1].from || !cfg->pathmaps[cfg->n_pathmaps - 1].to)
			return -ENOMEM;
		config_strip_slash(cfg->pathmaps[cfg->n_pathmaps - 1].to);
		return 0;
	case SEC_ABSOLUTE:
		if (key[0] != '/' || !*val)
			return -EINVAL;
		if (grow((void **)&cfg->absolutes, cfg->n_absolutes, sizeof(*cfg->absolutes)) < 0)
			return -ENOMEM;
		cfg->absolutes[cfg->n_absolutes].prefix = strdup(key);
		cfg->absolutes[cfg->n_absolutes].location = strdup(val);
		cfg->n_absolutes++;
		if (!cfg->absolutes[cfg->n_absolutes - 1].prefix ||
		    !cfg->absolutes[cfg->n_absolutes - 1].location)
			return -ENOMEM;
		config_strip_slash(cfg->absolutes[cfg->n_absolutes - 1].prefix);
		return 0;
	case SEC_SEND:
		if (!strcasecmp(key, "priority"))
			return parse_priority(cfg, val);
		return -EINVAL;
	case SEC_NONE:
	default:
		return -EINVAL;
	}
}

static int parse_text(struct parser *p, char *text)
{
	char *line = text;

	while (line) {
		char *nl = strchr(line, '\n');
		char *s, *eq;
		int r;

		if (nl)
			*nl = '\0';
		p->line++;
		s = trim(line);
		line = nl ? nl + 1 : NULL;
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			r = parse_section(p, s);
		} else {
			eq = strchr(s, '=');
			/* keys such as "S:\" or "\\host\share" contain no '=' */
			if (!eq) {
				r = -EINVAL;
			} else {
				*eq = '\0';
				r = parse_kv(p, trim(s), trim(eq + 1));
			}
		}
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			log_error(MOD, "%s:%d: invalid line", p->name, p->line);
			return -EINVAL;
		}
	}
	return 0;
}

static int finish(struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_locations; i++) {
		struct config_location *l = &cfg->locations[i];

		if (!l->party && !(l->party = strdup(l->name)))
			return -ENOMEM;
		if (l->is_local && !l->root) {
			log_error(MOD, "location '%s' is local but has no root", l->name);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < cfg->n_absolutes; i++) {
		if (!config_location(cfg, cfg->absolutes[i].location)) {
			log_error(MOD, "[absolute] %s names unknown location '%s'",
				  cfg->absolutes[i].prefix, cfg->absolutes[i].location);
			return -EINVAL;
		}
	}
	if (!cfg->cache_dir) {
		const char *xdg = getenv("XDG_CACHE_HOME");
		const char *home = getenv("HOME");
		char buf[PATH_MAX];
		int n;

		if (xdg && xdg[0] == '/')
			n = snprintf(buf, sizeof(buf), "%s/ftrackfs", xdg);
		else if (home && home[0] == '/')
			n = snprintf(buf, sizeof(buf), "%s/.cache/ftrackfs", home);
		else
			n = snprintf(buf, sizeof(buf), "/tmp/ftrackfs-%u/cache", (unsigned)getuid());
		if (n < 0 || (size_t)n >= sizeof(buf))
			return -ENAMETOOLONG;
		cfg->cache_dir = strdup(buf);
		if (!cfg->cache_dir)
			return -ENOMEM;
	}
	return 0;
}

static int config_new(struct config **ret)
{
	struct config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return -ENOMEM;
	cfg->ttl_s = 60;
	cfg->first_fetch_timeout_s = 10;
	cfg->prefetch_depth = 3;
	cfg->spin_us = 100;
	cfg->rss_budget_mib = 48;
	cfg->passthrough = true;
	cfg->colocate = true;
	cfg->ftrack_server = env_dup("FTRACK_SERVER");
	cfg->ftrack_user = env_dup("FTRACK_API_USER");
	cfg->ftrack_key = env_dup("FTRACK_API_KEY");
	cfg->accsyn_workspace = env_dup("ACCSYN_WORKSPACE");
	if (!cfg->accsyn_workspace)
		cfg->accsyn_workspace = env_dup("ACCSYN_DOMAIN");
	cfg->accsyn_user = env_dup("ACCSYN_API_USER");
	cfg->accsyn_key = env_dup("ACCSYN_API_KEY");
	*ret = cfg;
	return 0;
}

int config_parse_string(const char *text, const char *name, struct config **ret_cfg)
{
	struct parser p = { .name = name ? name : "<string>" };
	char *copy = NULL;
	int r;

	r = config_new(&p.cfg);
	if (r < 0)
		return r;
	if (text) {
		copy = strdup(text);
		if (!copy) {
			r = -ENOMEM;
			goto out;
		}
		r = parse_text(&p, copy);
		if (r < 0)
			goto out;
	}
	r = finish(p.cfg);
out:
	free(copy);
	free(p.loc);
	if (r < 0) {
		config_free(p.cfg);
		return r;
	}
	*ret_cfg = p.cfg;
	return 0;
}

static int read_file(const char *path, char **ret)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;
	int r;

	if (!f)
		return -errno;
	buf = malloc(CONFIG_MAX_BYTES + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, CONFIG_MAX_BYTES + 1, f);
	r = ferror(f) ? -EIO : 0;
	fclose(f);
	if (r == 0 && n > CONFIG_MAX_BYTES)
		r = -EFBIG;
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[n] = '\0';
	*ret = buf;
	return 0;
}

int config_load(const char *path, struct config **ret_cfg)
{
	char def[PATH_MAX];
	char *text = NULL;
	struct config *cfg;
	int r;

	if (!path) {
		const char *xdg = getenv("XDG_CONFIG_HOME");
		const char *home = getenv("HOME");
		int n = -1;

		if (xdg && xdg[0] == '/')
			n = snprintf(def, sizeof(def), "%s/ftrackfs/config", xdg);
		else if (home && home[0] == '/')
			n = snprintf(def, sizeof(def), "%s/.config/ftrackfs/config", home);
		if (n > 0 && (size_t)n < sizeof(def) && access(def, F_OK) == 0)
			path = def;
	}
	if (path) {
		r = read_file(path, &text);
		if (r < 0) {
			log_error(MOD, "cannot read %s: %s", path, strerror(-r));
			return r;
		}
	}
	r = config_parse_string(text, path, &cfg);
	free(text);
	if (r < 0)
		return r;
	if (path) {
		char abs[PATH_MAX];

		cfg->path = strdup(realpath(path, abs) ? abs : path);
		if (!cfg->path) {
			config_free(cfg);
			return -ENOMEM;
		}
	}
	*ret_cfg = cfg;
	return 0;
}
