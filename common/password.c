/* password.c — Argon2id password hashes for the dashboard's accounts (see password.h). */
#include "password.h"

#include <argon2.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

enum {
    PW_T_COST = 2,
    PW_M_COST_KIB = 19456,
    PW_PARALLELISM = 1,
    PW_SALT_LEN = 16,
    PW_HASH_LEN = 32,
    /* a stored hash asking for more than this is refused rather than run */
    PW_M_MAX_KIB = 262144,
    PW_T_MAX = 16,
    PW_P_MAX = 8,
};

int of_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

int of_password_hash(const char *password, char *out, size_t outsz, of_error *err)
{
    if (!password || !*password)
        return of_error_set(err, "the password is empty");
    unsigned char salt[PW_SALT_LEN];
    if (of_random_bytes(salt, sizeof salt))
        return of_error_set(err, "no random bytes from the kernel for the salt");
    size_t need = argon2_encodedlen(PW_T_COST, PW_M_COST_KIB, PW_PARALLELISM, PW_SALT_LEN,
                                    PW_HASH_LEN, Argon2_id);
    if (need > outsz)
        return of_error_set(err, "no room for the password hash (%zu bytes needed)", need);
    int rc = argon2id_hash_encoded(PW_T_COST, PW_M_COST_KIB, PW_PARALLELISM, password,
                                   strlen(password), salt, sizeof salt, PW_HASH_LEN, out, outsz);
    if (rc != ARGON2_OK)
        return of_error_set(err, "cannot hash the password: %s", argon2_error_message(rc));
    return 0;
}

/* Reads "m=..,t=..,p=.." after "$argon2id$v=19$" and checks the bounds. */
static int params_sane(const char *encoded)
{
    static const char prefix[] = "$argon2id$v=19$";
    if (strncmp(encoded, prefix, sizeof prefix - 1) != 0)
        return 0;
    unsigned long m, t, p;
    int used = 0;
    if (sscanf(encoded + sizeof prefix - 1, "m=%lu,t=%lu,p=%lu$%n", &m, &t, &p, &used) != 3 ||
        used == 0)
        return 0;
    return m >= 8 && m <= PW_M_MAX_KIB && t >= 1 && t <= PW_T_MAX && p >= 1 && p <= PW_P_MAX;
}

int of_password_verify(const char *encoded, const char *password)
{
    if (!encoded || !password || !params_sane(encoded))
        return -1;
    int rc = argon2id_verify(encoded, password, strlen(password));
    if (rc == ARGON2_OK)
        return 1;
    if (rc == ARGON2_VERIFY_MISMATCH)
        return 0;
    return -1;
}
