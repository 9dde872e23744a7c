import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One configured Maildir and its Junk folder (Maildir++: `<root>/.Junk/{cur,new,tmp}`).
struct MaildirMailbox: Sendable {
    /// The folders spamtuned watches.
    enum Folder: Sendable, Hashable {
        case inbox, junk
    }

    enum Subdirectory: String, Sendable {
        case new, cur, tmp
    }

    let root: String
    let junkFolderName: String

    init(root: String, junkFolder: String) {
        // One spelling for the same directory, so log lines and paths compare.
        var root = root
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        self.root = root
        junkFolderName = junkFolder
    }

    func folderPath(_ folder: Folder) -> String {
        switch folder {
        case .inbox: root
        case .junk: root + "/" + junkFolderName
        }
    }

    func path(_ folder: Folder, _ subdirectory: Subdirectory) -> String {
        folderPath(folder) + "/" + subdirectory.rawValue
    }

    func path(_ folder: Folder, _ subdirectory: Subdirectory, _ name: String) -> String {
        path(folder, subdirectory) + "/" + name
    }

    /// The inbox exists (spamtuned never creates a user's Maildir: the mail server does,
    /// with the right owner, at the first delivery).
    var inboxExists: Bool {
        [Subdirectory.new, .cur, .tmp].allSatisfy { MaildirFileSystem.isDirectory(path(.inbox, $0)) }
    }

    /// Creates the Junk folder where it is missing, owned like the Maildir, with the
    /// `maildirfolder` file that marks a Maildir++ subfolder.
    func createJunkFolder() throws {
        guard let owner = MaildirFileSystem.status(root) else { throw MaildirError(root, "use the Maildir", code: ENOENT) }
        let folder = folderPath(.junk)
        try MaildirFileSystem.makeDirectory(folder, ownedLike: owner)
        for subdirectory in [Subdirectory.tmp, .new, .cur] {
            try MaildirFileSystem.makeDirectory(path(.junk, subdirectory), ownedLike: owner)
        }
        let marker = folder + "/maildirfolder"
        if !MaildirFileSystem.exists(marker) {
            let fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw MaildirError(marker, "create it") }
            if geteuid() == 0 { fchown(fd, owner.st_uid, owner.st_gid) }
            close(fd)
        }
    }
}
