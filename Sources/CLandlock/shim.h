// Landlock (Linux 5.13+) through typed shims: glibc has no wrappers and Swift cannot call the
// variadic syscall(2). The structures and constants are the kernel's stable ABI
// (include/uapi/linux/landlock.h), spelled out so the build does not depend on how new the
// installed kernel headers are.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

struct ccl_ruleset_attr {
    uint64_t handled_access_fs;
};

struct __attribute__((packed)) ccl_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
};

#define CCL_CREATE_RULESET_VERSION (1U << 0)
#define CCL_RULE_PATH_BENEATH 1

static inline long ccl_abi_version(void) { return syscall(444, NULL, 0, CCL_CREATE_RULESET_VERSION); }

static inline int ccl_create_ruleset(uint64_t handled_access_fs) {
    struct ccl_ruleset_attr attr = { .handled_access_fs = handled_access_fs };
    return (int)syscall(444, &attr, sizeof attr, 0);
}

static inline int ccl_add_path_rule(int ruleset, int parent_fd, uint64_t allowed_access) {
    struct ccl_path_beneath_attr attr = { .allowed_access = allowed_access, .parent_fd = parent_fd };
    return (int)syscall(445, ruleset, CCL_RULE_PATH_BENEATH, &attr, 0);
}

static inline int ccl_restrict_self(int ruleset) { return (int)syscall(446, ruleset, 0); }

// O_PATH needs _GNU_SOURCE, which Glibc's Swift module does not define: the rule's anchor.
static inline int ccl_open_path(const char *path) { return open(path, O_PATH | O_CLOEXEC); }

static inline int ccl_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }
