#include "core/fs/file_copy.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

namespace depsync::fs {
namespace {

// Copies [from, to) with pread/pwrite; the fallback where copy_file_range cannot work (across file system
// types, or a kernel without it).
int copy_range_by_hand(int in, int out, off_t from, off_t to) {
    std::vector<char> buf(1 << 16);
    while (from < to) {
        auto want = static_cast<std::size_t>(std::min<off_t>(to - from, static_cast<off_t>(buf.size())));
        ssize_t n = ::pread(in, buf.data(), want, from);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno;
        if (n == 0) return 0;  // the file shrank while it was copied
        for (ssize_t done = 0; done < n;) {
            ssize_t w = ::pwrite(out, buf.data() + done, static_cast<std::size_t>(n - done), from + done);
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) return errno;
            done += w;
        }
        from += n;
    }
    return 0;
}

int copy_range(int in, int out, off_t from, off_t to, bool& use_kernel_copy) {
    while (use_kernel_copy && from < to) {
        loff_t src = from, dst = from;
        ssize_t n = ::copy_file_range(in, &src, out, &dst, static_cast<std::size_t>(to - from), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 &&
            (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP || errno == EBADF)) {
            use_kernel_copy = false;
            break;
        }
        if (n < 0) return errno;
        if (n == 0) return 0;  // the file shrank while it was copied
        from += n;
    }
    return copy_range_by_hand(in, out, from, to);
}

}  // namespace

int copy_sparse(int in, int out) {
    struct stat st {};
    if (::fstat(in, &st) < 0) return errno;
    const off_t size = st.st_size;
    bool use_kernel_copy = true;
    off_t pos = 0;
    while (pos < size) {
        off_t data = ::lseek(in, pos, SEEK_DATA);
        if (data < 0 && errno == ENXIO) break;  // only a hole from here on
        if (data < 0) {
            // No hole support: copy everything that is left.
            int err = copy_range(in, out, pos, size, use_kernel_copy);
            if (err != 0) return err;
            break;
        }
        off_t hole = ::lseek(in, data, SEEK_HOLE);
        if (hole < 0) hole = size;
        int err = copy_range(in, out, data, std::min(hole, size), use_kernel_copy);
        if (err != 0) return err;
        pos = hole;
    }
    if (::ftruncate(out, size) < 0) return errno;
    return 0;
}

}  // namespace depsync::fs
