package volumes

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fscrypt v2 (Documentation/filesystems/fscrypt.rst): a 64-byte master key
// is added to the filesystem's keyring, which names it by an identifier
// (HKDF-SHA512 of the key); a directory's policy names the identifier and
// the modes, and everything created under it is encrypted: contents with
// AES-256-XTS, names with AES-256-CTS. Without the key, names read as
// ciphertext and opening a file fails with ENOKEY.

// KeySize is the fscrypt master key's size.
const KeySize = unix.FSCRYPT_MAX_KEY_SIZE

// keyID is a v2 master key identifier.
type keyID [unix.FSCRYPT_KEY_IDENTIFIER_SIZE]byte

func (k keyID) String() string { return fmt.Sprintf("%x", k[:]) }

// addKey adds key to the keyring of the filesystem mounted at mnt and
// returns its identifier. Adding a key that is there already is harmless.
func addKey(mnt string, key []byte) (keyID, error) {
	if len(key) != KeySize {
		return keyID{}, fmt.Errorf("volume key is %d bytes; fscrypt wants %d", len(key), KeySize)
	}
	d, err := os.Open(mnt)
	if err != nil {
		return keyID{}, err
	}
	defer d.Close()
	// struct fscrypt_add_key_arg is followed by the raw key.
	const argSize = int(unsafe.Sizeof(unix.FscryptAddKeyArg{}))
	buf := make([]byte, argSize+len(key))
	arg := (*unix.FscryptAddKeyArg)(unsafe.Pointer(&buf[0]))
	arg.Key_spec.Type = unix.FSCRYPT_KEY_SPEC_TYPE_IDENTIFIER
	arg.Raw_size = uint32(len(key))
	copy(buf[argSize:], key)
	defer clear(buf)
	if err := ioctlPtr(int(d.Fd()), unix.FS_IOC_ADD_ENCRYPTION_KEY, arg); err != nil {
		return keyID{}, fmt.Errorf("adding the volume key (FS_IOC_ADD_ENCRYPTION_KEY): %w", err)
	}
	var id keyID
	copy(id[:], arg.Key_spec.U[:len(id)])
	return id, nil
}

// removeKey removes the key from the filesystem's keyring. Files still
// open keep it in use until closed (the kernel reports them busy); a key
// that is not there is no error.
func removeKey(mnt string, id keyID) (busy bool, err error) {
	d, err := os.Open(mnt)
	if err != nil {
		return false, err
	}
	defer d.Close()
	var arg unix.FscryptRemoveKeyArg
	arg.Key_spec.Type = unix.FSCRYPT_KEY_SPEC_TYPE_IDENTIFIER
	copy(arg.Key_spec.U[:], id[:])
	if err := ioctlPtr(int(d.Fd()), unix.FS_IOC_REMOVE_ENCRYPTION_KEY, &arg); err != nil {
		if errors.Is(err, unix.ENOKEY) {
			return false, nil
		}
		return false, fmt.Errorf("removing the volume key (FS_IOC_REMOVE_ENCRYPTION_KEY): %w", err)
	}
	return arg.Removal_status_flags&unix.FSCRYPT_KEY_REMOVAL_STATUS_FLAG_FILES_BUSY != 0, nil
}

// keyPresent reports whether the key is in the filesystem's keyring.
func keyPresent(mnt string, id keyID) (bool, error) {
	d, err := os.Open(mnt)
	if err != nil {
		return false, err
	}
	defer d.Close()
	var arg unix.FscryptGetKeyStatusArg
	arg.Key_spec.Type = unix.FSCRYPT_KEY_SPEC_TYPE_IDENTIFIER
	copy(arg.Key_spec.U[:], id[:])
	if err := ioctlPtr(int(d.Fd()), unix.FS_IOC_GET_ENCRYPTION_KEY_STATUS, &arg); err != nil {
		return false, fmt.Errorf("reading the volume key's status: %w", err)
	}
	return arg.Status == unix.FSCRYPT_KEY_STATUS_PRESENT, nil
}

// setPolicy makes dir (empty) encrypted under key id.
func setPolicy(dir string, id keyID) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	p := unix.FscryptPolicyV2{
		Version:                   unix.FSCRYPT_POLICY_V2,
		Contents_encryption_mode:  unix.FSCRYPT_MODE_AES_256_XTS,
		Filenames_encryption_mode: unix.FSCRYPT_MODE_AES_256_CTS,
		Flags:                     unix.FSCRYPT_POLICY_FLAGS_PAD_32,
		Master_key_identifier:     id,
	}
	if err := ioctlPtr(int(d.Fd()), unix.FS_IOC_SET_ENCRYPTION_POLICY, &p); err != nil {
		return fmt.Errorf("encrypting %s (FS_IOC_SET_ENCRYPTION_POLICY): %w", dir, err)
	}
	return nil
}

// policyOf returns the key identifier of dir's v2 policy; ok is false when
// dir is not encrypted.
func policyOf(dir string) (id keyID, ok bool, err error) {
	d, err := os.Open(dir)
	if err != nil {
		return keyID{}, false, err
	}
	defer d.Close()
	var arg unix.FscryptGetPolicyExArg
	arg.Size = uint64(len(arg.Policy))
	if err := ioctlPtr(int(d.Fd()), unix.FS_IOC_GET_ENCRYPTION_POLICY_EX, &arg); err != nil {
		if errors.Is(err, unix.ENODATA) {
			return keyID{}, false, nil
		}
		return keyID{}, false, fmt.Errorf("reading %s's encryption policy: %w", dir, err)
	}
	if arg.Policy[0] != unix.FSCRYPT_POLICY_V2 {
		return keyID{}, false, fmt.Errorf("%s is encrypted with an fscrypt v%d policy; clawd makes v2", dir, arg.Policy[0])
	}
	p := (*unix.FscryptPolicyV2)(unsafe.Pointer(&arg.Policy[0]))
	return p.Master_key_identifier, true, nil
}
