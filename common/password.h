/* password.h — password hashing for the dashboard's accounts: Argon2id (libargon2) with
 * m = 19456 KiB, t = 2, p = 1 and a 16-byte random salt (getrandom), stored as the encoded
 * string "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>" that carries its own parameters. */
#ifndef OF_PASSWORD_H
#define OF_PASSWORD_H

#include <stddef.h>

#include "of_error.h"

#define OF_PASSWORD_HASH_MAX 128 /* room for an encoded hash of these parameters */

/* Hashes password into out (NUL-terminated encoded string). -1 with err when the password
 * is empty, randomness is unavailable or out is too small. */
int of_password_hash(const char *password, char *out, size_t outsz, of_error *err) OF_MUST_CHECK;

/* 1 when password matches the encoded hash, 0 when it does not, -1 when encoded is not an
 * Argon2id hash this code accepts (corrupt, or parameters beyond sane bounds). */
int of_password_verify(const char *encoded, const char *password);

/* Fills buf with n bytes from the kernel's random source; -1 when unavailable. */
int of_random_bytes(void *buf, size_t n) OF_MUST_CHECK;

#endif
