/* An rtld-audit library (LD_AUDIT) that keeps librampart.so out of any
 * process that loads it: ld.so asks la_objsearch for every object it
 * maps, LD_PRELOAD's included, and skips one whose search returns NULL
 * ("cannot be preloaded: ignored"). The evasion_children suite hands it to
 * a child through the environment; the layer must not let it reach one. */
#define _GNU_SOURCE
#include <link.h>
#include <stdint.h>
#include <string.h>

unsigned int la_version(unsigned int version) {
    (void)version;
    return LAV_CURRENT;
}

char *la_objsearch(const char *name, uintptr_t *cookie, unsigned int flag) {
    (void)cookie;
    (void)flag;
    return strstr(name, "librampart") ? NULL : (char *)name;
}
